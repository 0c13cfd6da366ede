"""A round's summary, read from the counters (no scan of checks), with small cells hidden from aggregate users."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.auth.suppression import Suppressed, suppress
from bcp_service.models import HomeCareRegion, Municipality, OutboxMessage, Patient, SafetyCheck, SafetyRound
from bcp_service.models.enums import RiskTier
from bcp_service.models.rounds import ANSWER_STATES
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.schemas import RoundSummary, StateCounts
from bcp_service.rounds.service import label


def summarise_round(
    *,
    session: Session,
    safety_round: SafetyRound,
    min_cell: int = 0,
    scope: list | None = None,
) -> RoundSummary:
    """``min_cell`` > 0 applies ``auth.suppression`` (the aggregate role); ``scope`` (conditions on
    Patient) counts only the caller's patients, from the checks instead of the round's counters."""
    if scope is None:
        counters = read_counters(session=session, round_id=safety_round.id)
    else:
        counters = recount(session=session, round_id=safety_round.id, scope=scope)
    shown = suppress(counters, min_cell)
    answer_states = [s.value for s in ANSWER_STATES]
    answered = shown.part_sum([s for s in answer_states if s in counters.get("all", {}).get("", {})])
    region_names = _names(session, HomeCareRegion, counters.get("region", {}))
    municipality_names = _names(session, Municipality, counters.get("municipality", {}))
    tiers = counters.get("risk_tier", {})
    messages_query = (
        select(OutboxMessage.state, func.count())
        .where(OutboxMessage.round_id == safety_round.id)
        .group_by(OutboxMessage.state)
    )
    if scope is not None:
        messages_query = (
            messages_query.join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
            .join(Patient, Patient.id == SafetyCheck.patient_id)
            .where(*scope)
        )
    messages = dict(session.exec(messages_query).all()) if min_cell <= 0 else {}
    return RoundSummary(
        round_id=safety_round.id,
        drill=safety_round.drill,
        label=label(safety_round.drill),
        state=safety_round.state,
        total=shown.total,
        answered=answered,
        by_state=shown.by_state(),
        by_risk_tier=[
            _cells(shown, "risk_tier", tier.value, None)
            if tier.value in tiers
            else StateCounts(key=tier.value, counts={}, total=0)
            for tier in RiskTier
        ],
        by_region=[_cells(shown, "region", k, region_names.get(k)) for k in sorted(counters.get("region", {}))],
        by_municipality=[
            _cells(shown, "municipality", k, municipality_names.get(k))
            for k in sorted(counters.get("municipality", {}))
        ],
        messages=messages,
        min_cell=min_cell,
    )


def _cells(shown: Suppressed, dimension: str, key: str, name: str | None) -> StateCounts:
    hidden = shown.row_hidden(dimension, key)
    counts = {s: n for s, n in shown.by_state(dimension, key).items() if n != 0}
    return StateCounts(key=key, name=name, counts=counts, total=shown.row_total(dimension, key), suppressed=hidden)


def _names(session: Session, model, groups: dict[str, dict]) -> dict[str, str]:
    ids = [int(k) for k in groups if k]
    if not ids:
        return {}
    return {str(i): n for i, n in session.exec(select(model.id, model.name).where(col(model.id).in_(ids))).all()}
