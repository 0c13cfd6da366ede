"""A round's summary, read from the counters (no scan of checks), with small cells hidden from aggregate users."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.models import HomeCareRegion, Municipality, OutboxMessage, SafetyRound
from bcp_service.models.enums import RiskTier
from bcp_service.models.rounds import ANSWER_STATES
from bcp_service.rounds.counters import read_counters
from bcp_service.rounds.schemas import RoundSummary, StateCounts
from bcp_service.rounds.service import label


def summarise_round(*, session: Session, safety_round: SafetyRound, min_cell: int = 0) -> RoundSummary:
    """``min_cell`` > 0 hides counts between 1 and min_cell - 1 (for the aggregate role)."""
    counters = read_counters(session=session, round_id=safety_round.id)
    by_state = counters.get("all", {}).get("", {})
    total = sum(by_state.values())
    answered = sum(n for state, n in by_state.items() if state in {s.value for s in ANSWER_STATES})
    region_names = _names(session, HomeCareRegion, counters.get("region", {}))
    municipality_names = _names(session, Municipality, counters.get("municipality", {}))
    tiers = counters.get("risk_tier", {})
    messages = dict(session.exec(
        select(OutboxMessage.state, func.count()).where(OutboxMessage.round_id == safety_round.id)
        .group_by(OutboxMessage.state)
    ).all())
    return RoundSummary(
        round_id=safety_round.id, drill=safety_round.drill, label=label(safety_round.drill),
        state=safety_round.state, total=total, answered=answered, by_state=by_state,
        by_risk_tier=[_cells(tier.value, None, tiers.get(tier.value, {}), min_cell) for tier in RiskTier],
        by_region=[_cells(k, region_names.get(k), v, min_cell) for k, v in sorted(counters.get("region", {}).items())],
        by_municipality=[_cells(k, municipality_names.get(k), v, min_cell)
                         for k, v in sorted(counters.get("municipality", {}).items())],
        messages=messages, min_cell=min_cell,
    )


def _cells(key: str, name: str | None, counts: dict[str, int], min_cell: int) -> StateCounts:
    total = sum(counts.values())
    hidden = min_cell > 0 and 0 < total < min_cell
    shown = {state: (None if min_cell > 0 and 0 < n < min_cell else n) for state, n in counts.items()}
    return StateCounts(key=key, name=name, counts={} if hidden else shown, total=None if hidden else total,
                       suppressed=hidden)


def _names(session: Session, model, groups: dict[str, dict]) -> dict[str, str]:
    ids = [int(k) for k in groups if k]
    if not ids:
        return {}
    return {str(i): n for i, n in session.exec(select(model.id, model.name).where(col(model.id).in_(ids))).all()}
