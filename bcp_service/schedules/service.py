"""Managing schedules. Who may see or change one follows the rounds' rule for closing a round:
admins any; others those created within their own role and scope. Whom a schedule's rounds reach
is the creator's scope, applied when it fires, exactly as for a round they start by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import RoundSchedule, ScheduleFiring
from bcp_service.models.base import utcnow
from bcp_service.rounds.service import Actor
from bcp_service.rounds.targets import RoundTarget, ensure_inside_wall, resolve_codes
from bcp_service.schedules.schemas import ScheduleCreate, ScheduleUpdate
from bcp_service.schedules.timing import Timing, build_trigger, next_fire_times, shortest_gap

TIMING_FIELDS = ("cron", "interval_minutes", "timezone", "starts_at")


def visible_conditions(principal: Principal) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(RoundSchedule.deleted_at).is_(None)]
    if principal.role != Role.admin:
        conditions += [
            RoundSchedule.created_by_role == str(principal.role),
            RoundSchedule.created_by_scope_id == principal.scope_id,
        ]
    return conditions


def schedule_actor(schedule: RoundSchedule) -> Actor:
    """The schedule's creator as the starter of its rounds, limited to the creator's scope."""
    principal = Principal(
        user_id=schedule.created_by_user_id or 0,
        username=schedule.created_by_name,
        role=Role(schedule.created_by_role),
        scope_id=schedule.created_by_scope_id,
    )
    return Actor(
        name=f"schedule:{schedule.id}",
        user_id=schedule.created_by_user_id,
        role=schedule.created_by_role,
        scope_id=schedule.created_by_scope_id,
        scope=tuple(patient_scope(principal)),
    )


def check_timing(schedule: RoundSchedule, *, settings: Settings, now: datetime) -> None:
    timing = Timing.of(schedule)
    field = "cron" if schedule.cron is not None else "interval_minutes"
    try:
        build_trigger(timing)
        gap = shortest_gap(timing, after=max(now, timing.anchor))
    except ValueError as exc:
        raise FieldError(f"スケジュールの指定が正しくありません ({exc})", field=field) from None
    minimum = timedelta(minutes=settings.schedule_min_interval_minutes)
    if gap is not None and gap < minimum:
        raise FieldError(
            f"{settings.schedule_min_interval_minutes}分より短い間隔では実行できません "
            f"(fires every {gap.total_seconds() / 60:g} minutes; the minimum is "
            f"{settings.schedule_min_interval_minutes})",
            field=field,
        )
    if schedule.starts_at and schedule.ends_at and aware(schedule.ends_at) <= aware(schedule.starts_at):
        raise FieldError("終了日時は開始日時より後にしてください (ends_at must be after starts_at)", field="ends_at")


def _check_target(session: Session, target: RoundTarget, principal: Principal) -> dict:
    ensure_inside_wall(session, principal, target)  # issue 23: a schedule names only the caller's prefecture
    resolve_codes(session=session, target=target)  # refuses unknown municipality codes now, not at 3 a.m.
    return target.model_dump(mode="json", exclude_defaults=True)


def create_schedule(
    *, session: Session, principal: Principal, data: ScheduleCreate, settings: Settings
) -> RoundSchedule:
    now = utcnow()
    schedule = RoundSchedule(
        name=data.name,
        cron=data.cron,
        interval_minutes=data.interval_minutes,
        timezone=data.timezone,
        target=_check_target(session, data.target, principal),
        drill=data.drill,
        reason=data.reason.value,
        kind=data.kind.value,
        title=data.title,
        deadline_hours=data.deadline_hours,
        escalation_policy=data.escalation_policy.model_dump(mode="json") if data.escalation_policy else None,
        active=data.active,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        misfire_policy=data.misfire_policy.value,
        misfire_grace_seconds=data.misfire_grace_seconds,
        effective_from=now,
        created_by_user_id=principal.user_id,
        created_by_name=principal.username[:100],
        created_by_role=str(principal.role),
        created_by_scope_id=principal.scope_id,
        created_at=now,
        updated_at=now,
    )
    check_timing(schedule, settings=settings, now=now)
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(*, session: Session, principal: Principal, schedule_id: int) -> RoundSchedule:
    schedule = session.exec(
        select(RoundSchedule).where(RoundSchedule.id == schedule_id, *visible_conditions(principal))
    ).first()
    if schedule is None:
        raise NotFound("スケジュールが見つかりません (schedule not found)")
    return schedule


def list_schedules(
    *,
    session: Session,
    principal: Principal,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RoundSchedule], int]:
    conditions = visible_conditions(principal)
    if active is not None:
        conditions.append(RoundSchedule.active == active)
    total = session.exec(select(func.count()).select_from(RoundSchedule).where(*conditions)).one()
    rows = session.exec(
        select(RoundSchedule).where(*conditions).order_by(col(RoundSchedule.id)).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def update_schedule(
    *,
    session: Session,
    principal: Principal,
    schedule_id: int,
    data: ScheduleUpdate,
    settings: Settings,
) -> RoundSchedule:
    schedule = get_schedule(session=session, principal=principal, schedule_id=schedule_id)
    changes = data.model_dump(exclude_unset=True)
    now = utcnow()
    for required in ("name", "timezone", "target", "drill", "reason", "kind", "active", "misfire_policy"):
        if required in changes and changes[required] is None:
            raise FieldError(f"{required} cannot be null", field=required)
    if "cron" in changes and changes["cron"] is not None:
        changes.setdefault("interval_minutes", None)
    if "interval_minutes" in changes and changes["interval_minutes"] is not None:
        changes.setdefault("cron", None)
    if "target" in changes:
        changes["target"] = _check_target(session, data.target, principal)
    if "escalation_policy" in changes:
        changes["escalation_policy"] = (
            data.escalation_policy.model_dump(mode="json") if data.escalation_policy else None
        )
    if "reason" in changes:
        changes["reason"] = data.reason.value
    if "kind" in changes:
        changes["kind"] = data.kind.value
    if "misfire_policy" in changes:
        changes["misfire_policy"] = data.misfire_policy.value
    retimed = any(key in changes and changes[key] != getattr(schedule, key) for key in TIMING_FIELDS)
    reactivated = changes.get("active") is True and not schedule.active
    for key, value in changes.items():
        setattr(schedule, key, value)
    check_timing(schedule, settings=settings, now=now)
    if retimed or reactivated:
        # Fire times before now were not this schedule's: they are neither run nor "missed".
        schedule.effective_from = now
    schedule.updated_at = now
    session.add(schedule)
    session.flush()
    return schedule


def delete_schedule(*, session: Session, principal: Principal, schedule_id: int) -> RoundSchedule:
    """Soft delete: the firings and the rounds they started keep pointing at it."""
    schedule = get_schedule(session=session, principal=principal, schedule_id=schedule_id)
    now = utcnow()
    schedule.active = False
    schedule.deleted_at = now
    schedule.updated_at = now
    session.add(schedule)
    session.flush()
    return schedule


def list_firings(
    *,
    session: Session,
    schedule_id: int,
    outcome: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ScheduleFiring], int]:
    conditions = [ScheduleFiring.schedule_id == schedule_id]
    if outcome:
        conditions.append(ScheduleFiring.outcome == outcome)
    total = session.exec(select(func.count()).select_from(ScheduleFiring).where(*conditions)).one()
    rows = session.exec(
        select(ScheduleFiring)
        .where(*conditions)
        .order_by(col(ScheduleFiring.fire_time).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_last_firing(*, session: Session, schedule_id: int) -> ScheduleFiring | None:
    return session.exec(
        select(ScheduleFiring)
        .where(ScheduleFiring.schedule_id == schedule_id)
        .order_by(col(ScheduleFiring.fire_time).desc())
        .limit(1)
    ).first()


def list_next_fire_times(
    schedule: RoundSchedule, *, last_fire_time: datetime | None, now: datetime, count: int = 5
) -> list[datetime]:
    if not schedule.active or schedule.deleted_at is not None:
        return []
    after = max(t for t in (now, aware(schedule.effective_from), last_fire_time and aware(last_fire_time)) if t)
    return next_fire_times(Timing.of(schedule), after=after, count=count)
