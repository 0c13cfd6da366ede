"""Firing due schedules: exactly once per (schedule, fire time), whatever number of schedulers run.

Each due fire time gets its own transaction, which first inserts the ``schedule_firing`` row:
the unique key (schedule_id, fire_time) lets one process in and makes every other one skip
(PostgreSQL makes the loser wait for the winner's commit; SQLite serialises the writers). The
round is then started in the same transaction, with the idempotency key
``schedule:{id}:{fire time}``, so a round exists if and only if its firing row does.

Misfire policy (docs/escalation.md): fire times that passed while no scheduler ran are coalesced
into the latest one, which runs once if it is late by no more than the grace period (``run_once``)
or by no more than a tick (``skip``); otherwise it is recorded as ``missed`` and nothing runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.errors import ServiceError
from bcp_service.models import RoundSchedule, ScheduleFiring
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import RoundReason
from bcp_service.models.schedules import FiringOutcome, MisfirePolicy
from bcp_service.rounds.service import start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.schedules.service import schedule_actor
from bcp_service.schedules.timing import Timing, iter_fire_times

log = logging.getLogger("bcp_service.schedules")


@dataclass(frozen=True)
class Due:
    schedule_id: int
    fire_time: datetime
    outcome: FiringOutcome  # started (run it) or missed (record only)
    late_seconds: float
    coalesced: int


def on_time_seconds(settings: Settings) -> float:
    """How late a firing may be and still count as on time: a tick, and a little more."""
    return max(60.0, 3 * settings.scheduler_tick_seconds)


def grace_for(schedule: RoundSchedule, settings: Settings) -> float:
    if schedule.misfire_policy == MisfirePolicy.skip:
        return on_time_seconds(settings)
    grace = schedule.misfire_grace_seconds
    return float(settings.schedule_misfire_grace_seconds if grace is None else grace)


def decide_firing(
    schedule: RoundSchedule, *, last_fire_time: datetime | None, now: datetime, settings: Settings
) -> Due | None:
    """The fire time to act on now, if any, with what the misfire policy makes of it."""
    after = aware(schedule.effective_from)
    if last_fire_time is not None:
        after = max(after, aware(last_fire_time))
    latest, count = None, 0
    for moment in iter_fire_times(Timing.of(schedule), after=after, until=now):
        latest, count = moment, count + 1
    if latest is None:
        return None
    late = (now - latest).total_seconds()
    outcome = FiringOutcome.started if late <= grace_for(schedule, settings) else FiringOutcome.missed
    return Due(schedule.id, latest.astimezone(UTC), outcome, late, count - 1)


def find_due(*, session: Session, settings: Settings, now: datetime) -> list[Due]:
    schedules = session.exec(
        select(RoundSchedule).where(RoundSchedule.active == True, col(RoundSchedule.deleted_at).is_(None))  # noqa: E712
    ).all()
    if not schedules:
        return []
    last = dict(
        session.exec(
            select(ScheduleFiring.schedule_id, func.max(ScheduleFiring.fire_time))
            .where(col(ScheduleFiring.schedule_id).in_([s.id for s in schedules]))
            .group_by(ScheduleFiring.schedule_id)
        ).all()
    )
    found = []
    for schedule in schedules:
        try:
            due = decide_firing(schedule, last_fire_time=last.get(schedule.id), now=now, settings=settings)
        except ValueError:
            # Validated on every write; a row edited by hand must not stop the other schedules.
            log.warning("schedule.invalid_timing", extra={"schedule_id": schedule.id})
            continue
        if due is not None:
            found.append(due)
    return found


def fire_due_schedules(
    session_factory: Callable[[], Session],
    *,
    settings: Settings,
    instance_id: str,
    now: datetime | None = None,
) -> list[ScheduleFiring]:
    """One pass of the scheduler: act on every due fire time. Returns the firings this call wrote."""
    now = now or utcnow()
    with session_factory() as session:
        due = find_due(session=session, settings=settings, now=now)
    written = []
    for item in due:
        firing = fire_one(session_factory, item, settings=settings, instance_id=instance_id)
        if firing is not None:
            written.append(firing)
    return written


def _claim(session: Session, due: Due, *, instance_id: str, outcome: str, error: str | None = None) -> int | None:
    dialect = session.get_bind().dialect.name
    statement = (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(ScheduleFiring.__table__)
        .values(
            schedule_id=due.schedule_id,
            fire_time=due.fire_time,
            fired_at=utcnow(),
            outcome=outcome,
            late_seconds=round(due.late_seconds, 3),
            coalesced=due.coalesced,
            error=error,
            instance_id=instance_id[:100],
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "fire_time"])
    )
    return session.execute(statement.returning(ScheduleFiring.__table__.c.id)).scalar()


def fire_one(
    session_factory: Callable[[], Session],
    due: Due,
    *,
    settings: Settings,
    instance_id: str,
) -> ScheduleFiring | None:
    """Record (and for a due one, start) one fire time; None when another process already did."""
    extra = {"schedule_id": due.schedule_id, "fire_time": due.fire_time.isoformat(), "instance_id": instance_id}
    with session_factory() as session:
        try:
            firing_id = _claim(session, due, instance_id=instance_id, outcome=due.outcome.value)
            if firing_id is None:
                session.rollback()
                log.info("schedule.already_fired", extra=extra)
                return None
            schedule = session.get(RoundSchedule, due.schedule_id)
            if not schedule.active or schedule.deleted_at is not None:
                session.rollback()  # switched off since we looked
                return None
            round_id = None
            if due.outcome == FiringOutcome.started:
                round_id = _start(session, schedule, due, settings)
                session.execute(update(ScheduleFiring).where(ScheduleFiring.id == firing_id).values(round_id=round_id))
            session.commit()
        except ServiceError as exc:
            # The round cannot start as configured (e.g. a municipality code no longer known):
            # record it, so the firing is visible and not retried every tick.
            session.rollback()
            log.warning("schedule.fire_failed", extra={**extra, "error": type(exc).__name__})
            return _record_failure(session_factory, due, instance_id=instance_id, error=exc.message)
        except Exception:
            # The database or something unexpected: nothing was written; the next tick tries again.
            session.rollback()
            log.exception("schedule.fire_error", extra=extra)
            return None
        log.info(
            f"schedule.{due.outcome.value}",
            extra={
                **extra,
                "round_id": round_id,
                "late_seconds": round(due.late_seconds, 1),
                "coalesced": due.coalesced,
            },
        )
        return session.get(ScheduleFiring, firing_id)


def _start(session: Session, schedule: RoundSchedule, due: Due, settings: Settings) -> int:
    local = due.fire_time.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    deadline = utcnow() + timedelta(hours=schedule.deadline_hours) if schedule.deadline_hours else None
    safety_round, _created = start_round(
        session=session,
        actor=schedule_actor(schedule),
        target=RoundTarget.model_validate(schedule.target),
        reason=RoundReason(schedule.reason),
        drill=schedule.drill,
        settings=settings,
        deadline=deadline,
        idempotency_key=f"schedule:{schedule.id}:{due.fire_time.isoformat()}",
        title=f"{schedule.title or schedule.name} ({local})"[:200],
        escalation_policy=schedule.escalation_policy,
        kind=schedule.kind,
    )
    return safety_round.id


def _record_failure(session_factory, due: Due, *, instance_id: str, error: str) -> ScheduleFiring | None:
    with session_factory() as session:
        firing_id = _claim(session, due, instance_id=instance_id, outcome=FiringOutcome.failed.value, error=error[:500])
        session.commit()
        return session.get(ScheduleFiring, firing_id) if firing_id else None
