"""Turning pending trigger records into rounds once their delay has passed: exactly once.

Each record is claimed with ``UPDATE ... SET state = 'started' WHERE state = 'pending'`` in the
same transaction that starts the round (idempotency key ``trigger:{event_id}:{seq}``). With two
scheduler processes, the second one's UPDATE waits for the first's row lock (PostgreSQL) or its
write lock (SQLite) and then matches nothing. A cancellation that arrives meanwhile either wins
(the record is cancelled and the claim matches nothing) or finds it started ("cancel_too_late").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.errors import ServiceError
from bcp_service.models import TriggerRecord
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import RoundReason
from bcp_service.models.triggers import RecordState
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.triggers.events import Hazard
from bcp_service.triggers.guards import is_notice

log = logging.getLogger("bcp_service.triggers")
BATCH = 50


def list_due_record_ids(*, session: Session, now: datetime) -> list[int]:
    return list(
        session.exec(
            select(TriggerRecord.id)
            .where(
                TriggerRecord.state == RecordState.pending.value,
                col(TriggerRecord.not_before).is_not(None),
                TriggerRecord.not_before <= now,
            )
            .order_by(TriggerRecord.not_before)
            .limit(BATCH)
        ).all()
    )


def run_due_trigger_starts(
    session_factory: Callable[[], Session],
    *,
    settings: Settings,
    now: datetime | None = None,
) -> list[int]:
    """Start every pending record that is due; returns the ids of the rounds this call started."""
    now = now or utcnow()
    with session_factory() as session:
        ids = list_due_record_ids(session=session, now=now)
    started = []
    for record_id in ids:
        round_id = start_pending(session_factory, record_id=record_id, settings=settings, now=now)
        if round_id is not None:
            started.append(round_id)
    return started


def start_pending(
    session_factory: Callable[[], Session],
    *,
    record_id: int,
    settings: Settings,
    now: datetime,
) -> int | None:
    with session_factory() as session:
        try:
            claimed = session.execute(
                update(TriggerRecord)
                .where(
                    TriggerRecord.id == record_id,
                    TriggerRecord.state == RecordState.pending.value,
                    TriggerRecord.not_before <= now,
                )
                .values(state=RecordState.started.value, started_at=now, updated_at=now)
                # Not "evaluate": a loaded record's naive SQLite time cannot be compared in Python.
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                session.rollback()  # another process started it, or it was cancelled or changed
                return None
            record = session.get(TriggerRecord, record_id, populate_existing=True)
            local = aware(record.first_seen_at).astimezone(settings.tz)
            notice = is_notice(record.event_id)
            # A planned shutoff's notice (outages.service.planned_outage_event) is for the patients on devices.
            therapies = settings.outage_notice_therapies if notice and record.hazard == Hazard.BLACKOUT.value else []
            safety_round, _created = start_round(
                session=session,
                actor=Actor.system("trigger"),
                target=RoundTarget(municipality_codes=list(record.municipalities), therapies=list(therapies)),
                reason=RoundReason.disaster,
                drill=record.drill,
                settings=settings,
                idempotency_key=f"trigger:{record.event_id}:{record.seq}",
                title=f"{record.title} {local:%m/%d %H:%M}"[:200],
                kind="advance_notice" if notice else "safety_check",
                hazard=record.hazard,
                join_incident=not notice,
                event_id=record.event_id,
            )
            session.execute(update(TriggerRecord).where(TriggerRecord.id == record_id).values(round_id=safety_round.id))
            session.commit()
        except ServiceError as exc:
            session.rollback()
            log.error("trigger.start_failed", extra={"record_id": record_id, "error": type(exc).__name__})
            _mark_failed(session_factory, record_id=record_id, error=exc.message, now=now)
            return None
        except Exception:
            session.rollback()
            log.exception("trigger.start_error", extra={"record_id": record_id})
            return None
    log.info(
        "trigger.round_started",
        extra={"record_id": record_id, "round_id": safety_round.id, "event_id": record.event_id, "drill": record.drill},
    )
    return safety_round.id


def _mark_failed(session_factory, *, record_id: int, error: str, now: datetime) -> None:
    with session_factory() as session:
        session.execute(
            update(TriggerRecord)
            .where(TriggerRecord.id == record_id, TriggerRecord.state == RecordState.pending.value)
            .values(state=RecordState.failed.value, error=error[:500], updated_at=now)
        )
        session.commit()
