"""How a decision changes the record of prior events, without a database.

The database layer keeps one row per (event id, round) and should change it exactly as
`apply_decision` does; the trigger tests replay whole bulletin sequences through it. Moving a
pending round to "started" is the scheduler's business (`mark_started`).
"""

from __future__ import annotations

from bcp_service.triggers.events import InfoType, TriggerEvent
from bcp_service.triggers.schemas import Decision, PriorEvent


def apply_decision(
    prior: list[PriorEvent],
    event: TriggerEvent,
    decision: Decision,
    *,
    round_id: str | None = None,
) -> list[PriorEvent]:
    """Return the prior-event list as it stands after `decision`; `prior` is not changed."""
    updated = [_learn_severity(p, event, decision) for p in prior]

    if decision.action == "schedule_round":
        updated.append(
            PriorEvent(
                event_id=event.event_id,
                hazard=event.hazard,
                municipalities=frozenset(decision.municipalities),
                max_severity=decision.severity,
                municipality_severity=dict(decision.municipality_severity),
                first_seen_at=decision.decided_at,
                state="pending",
                round_id=round_id,
                not_before=decision.not_before,
                drill=decision.drill,
                contributions={event.event_id: dict(decision.municipality_severity)},
            )
        )
    elif decision.action in ("update_pending", "cancel_pending"):
        index = _pending_index(updated, decision)
        target = updated[index]
        if decision.action == "cancel_pending":
            updated[index] = target.model_copy(update={"state": "cancelled"})
        else:
            updated[index] = target.model_copy(
                update={
                    "municipalities": frozenset(decision.municipalities),
                    "max_severity": decision.severity,
                    "municipality_severity": dict(decision.municipality_severity),
                    "not_before": decision.not_before,
                    "contributions": {k: dict(v) for k, v in decision.contributions.items()} or target.contributions,
                }
            )
    elif not any(p.event_id == event.event_id and p.drill == decision.drill for p in updated):
        # Ignored events are kept too, so that the API can list them with their reasons.
        updated.append(
            PriorEvent(
                event_id=event.event_id,
                hazard=event.hazard,
                max_severity=event.local_severity,
                first_seen_at=decision.decided_at,
                state="ignored",
                drill=decision.drill,
            )
        )
    return updated


def mark_started(prior: list[PriorEvent], round_id: str) -> list[PriorEvent]:
    return [
        p.model_copy(update={"state": "started"}) if p.round_id == round_id and p.state == "pending" else p
        for p in prior
    ]


def _pending_index(prior: list[PriorEvent], decision: Decision) -> int:
    candidates = [
        i
        for i, p in enumerate(prior)
        if p.state == "pending"
        and p.drill == decision.drill
        # A merge names another event's round: the target, when given, is what identifies it.
        and (
            p.round_id == decision.target_round_id
            if decision.target_round_id is not None
            else p.event_id == decision.event_id
        )
    ]
    if not candidates:
        raise LookupError(f"no pending round for event {decision.event_id} to change")
    return max(candidates, key=lambda i: prior[i].first_seen_at)


def _learn_severity(p: PriorEvent, event: TriggerEvent, decision: Decision) -> PriorEvent:
    """A later report of the same event (VXSE53 after VXSE51, a correction) may be stronger.

    Keeping the strongest value per municipality means an aftershock has to beat what the
    first quake really did, not what the first, coarser report said.
    """
    if p.event_id != event.event_id or p.drill != decision.drill or p.state not in ("pending", "started"):
        return p
    correction = event.info_type is InfoType.CORRECTION
    learned = dict(p.municipality_severity)
    for code in p.municipalities:
        rank = event.municipality_severity.get(code)
        # A correction replaces what it corrects; a follow-up report only adds detail.
        if rank is not None and (correction or rank > p.severity_in(code)):
            learned[code] = rank
    if learned == p.municipality_severity:
        return p
    contributions = p.contributions
    if p.event_id in contributions:  # the event's own part learns it too
        own = {code: learned.get(code, rank) for code, rank in contributions[p.event_id].items()}
        contributions = {**contributions, p.event_id: own}
    return p.model_copy(
        update={
            "contributions": contributions,
            "municipality_severity": learned,
            "max_severity": max(
                (learned.get(code, p.max_severity) for code in p.municipalities), default=p.max_severity
            ),
        }
    )
