"""The trigger records in the database, changed exactly as ``history.apply_decision`` changes its list.

Rather than restate the rules, ``save_decision`` runs the pure ``apply_decision`` over the records
it loaded and writes back the difference. A record still pending is only ever changed with
``WHERE state = 'pending'``: if the runner started its round meanwhile, nothing is written and
``StaleRecord`` tells the caller to decide again on what is now true.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, text, update
from sqlmodel import Session, select

from bcp_service.clock import aware, aware_or_none
from bcp_service.models import TriggerRecord
from bcp_service.models.triggers import RecordState
from bcp_service.triggers.events import Hazard, TriggerEvent
from bcp_service.triggers.history import apply_decision
from bcp_service.triggers.schemas import Decision, PriorEvent

NEW = "new"
PRIOR_STATES = {"pending", "started", "cancelled", "ignored"}
# One lock for every trigger decision: events arrive a few per minute at most, and deciding two
# bulletins of one quake at the same time would let both schedule a round.
DECISION_LOCK_KEY = 0x62637074  # "bcpt"


class StaleRecord(Exception):
    """A pending record changed state under us (the runner started it); decide again."""


def lock_decisions(session: Session) -> None:
    """Serialise trigger decisions. SQLite already serialises writers (the caller has written)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECISION_LOCK_KEY})


def to_prior(record: TriggerRecord) -> PriorEvent:
    # A failed start covers nothing, as a cancelled one does.
    state = record.state if record.state in PRIOR_STATES else RecordState.cancelled.value
    return PriorEvent(
        event_id=record.event_id,
        hazard=Hazard(record.hazard),
        municipalities=frozenset(record.municipalities),
        max_severity=record.max_severity,
        municipality_severity=dict(record.municipality_severity),
        first_seen_at=aware(record.first_seen_at),
        state=state,
        round_id=str(record.id),
        not_before=aware_or_none(record.not_before),
        drill=record.drill,
        contributions={k: dict(v) for k, v in (record.contributions or {}).items()},
    )


def load_records(*, session: Session, event_id: str, window_hours: float, now: datetime) -> dict[int, TriggerRecord]:
    """Every record of this event, and every record recent enough to make this one an aftershock."""
    rows = session.exec(
        select(TriggerRecord)
        .where(
            or_(TriggerRecord.event_id == event_id, TriggerRecord.first_seen_at >= now - timedelta(hours=window_hours))
        )
        .order_by(TriggerRecord.id)
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def save_decision(
    *,
    session: Session,
    records: dict[int, TriggerRecord],
    event: TriggerEvent,
    decision: Decision,
    now: datetime,
) -> TriggerRecord | None:
    """Write what ``decision`` changes; returns the record it created or changed the state of."""
    before = {record_id: to_prior(record) for record_id, record in records.items()}
    after = apply_decision(
        list(before.values()), event, decision, round_id=NEW if decision.action == "schedule_round" else None
    )
    touched: TriggerRecord | None = None
    for prior in after:
        if prior.round_id is None or prior.round_id == NEW:
            touched = _insert(session, prior, event=event, now=now)
            continue
        record = records[int(prior.round_id)]
        old = before[record.id]
        values = _changes(old, prior)
        if not values:
            continue
        if prior.state == RecordState.cancelled and old.state != prior.state:
            values.update(cancelled_at=now, cancelled_by=f"trigger:{decision.reason}"[:100])
        _update(session, record, values, guard=old.state == RecordState.pending, now=now)
        if record.id == _target_id(decision):
            touched = record
    return touched


def _target_id(decision: Decision) -> int | None:
    return int(decision.target_round_id) if decision.target_round_id not in (None, NEW) else None


def _changes(old: PriorEvent, new: PriorEvent) -> dict:
    values: dict = {}
    if new.state != old.state:
        values["state"] = new.state
    if new.municipalities != old.municipalities:
        values["municipalities"] = sorted(new.municipalities)
    if new.max_severity != old.max_severity:
        values["max_severity"] = new.max_severity
    if new.municipality_severity != old.municipality_severity:
        values["municipality_severity"] = dict(new.municipality_severity)
    if new.not_before != old.not_before:
        values["not_before"] = new.not_before
    if new.contributions != old.contributions:
        values["contributions"] = {k: dict(v) for k, v in new.contributions.items()}
    return values


def _update(session: Session, record: TriggerRecord, values: dict, *, guard: bool, now: datetime) -> None:
    statement = update(TriggerRecord).where(TriggerRecord.id == record.id)
    if guard:
        statement = statement.where(TriggerRecord.state == RecordState.pending.value)
    result = session.execute(statement.values(**values, updated_at=now))
    if result.rowcount == 0:
        raise StaleRecord(record.id)
    session.expire(record)


def _insert(session: Session, prior: PriorEvent, *, event: TriggerEvent, now: datetime) -> TriggerRecord:
    last = session.exec(select(func.max(TriggerRecord.seq)).where(TriggerRecord.event_id == prior.event_id)).one()
    record = TriggerRecord(
        event_id=prior.event_id,
        seq=(last or 0) + 1,
        hazard=prior.hazard.value,
        drill=prior.drill,
        title=event.title[:200],
        municipalities=sorted(prior.municipalities),
        max_severity=prior.max_severity,
        municipality_severity=dict(prior.municipality_severity),
        first_seen_at=prior.first_seen_at,
        state=prior.state,
        not_before=prior.not_before,
        updated_at=now,
        contributions={k: dict(v) for k, v in prior.contributions.items()},
    )
    session.add(record)
    session.flush()
    return record


def cancel_record(*, session: Session, record_id: int, by: str, now: datetime) -> bool:
    """A person stops a pending start; False when it is no longer pending."""
    result = session.execute(
        update(TriggerRecord)
        .where(TriggerRecord.id == record_id, TriggerRecord.state == RecordState.pending.value)
        .values(state=RecordState.cancelled.value, cancelled_at=now, cancelled_by=by[:100], updated_at=now)
    )
    return result.rowcount == 1
