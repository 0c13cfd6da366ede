"""Quiet hours (issue 25.4): when an advance notice may not text or call families.

Each prefecture sets its own (``prefecture.quiet_start``/``quiet_end``, local "HH:MM"; none set: the
settings' ``notice_quiet_hours``, 21:00–07:00). A notice round keeps, at its start, the rule of every
prefecture it reaches (``safety_round.quiet_hours``: the time zone and the hours per prefecture), so the
round page shows the ladder as it will run and a later change applies to notices started after it.

Three paths obey the rule: the round's first messages (a family or carer contact chosen first waits for
the morning), a failover to a family contact, and the escalation ladder's family and call steps
(``escalation/jobs.py``). Emergency rounds have no quiet hours.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.models import Municipality, OutboxMessage, PatientContact, Prefecture, SafetyCheck, SafetyRound
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import RoundKind

NOTICE_KIND = RoundKind.advance_notice.value


def prefecture_hours(prefecture: Prefecture, settings) -> tuple[str, str]:
    """The prefecture's quiet hours, or the settings' default when it has set none."""
    if prefecture.quiet_start and prefecture.quiet_end:
        return prefecture.quiet_start, prefecture.quiet_end
    start, end = settings.notice_quiet_hours
    return start, end


def rule_for(session: Session, *, round_id: int, settings) -> dict:
    """The quiet hours of every prefecture the round's checks are in, as the round keeps them."""
    reached = (
        select(Municipality.prefecture_id)
        .join(SafetyCheck, col(SafetyCheck.municipality_id) == Municipality.id)
        .where(SafetyCheck.round_id == round_id)
    )
    prefectures = session.exec(
        select(Prefecture).where(col(Prefecture.id).in_(reached)).order_by(col(Prefecture.id))
    ).all()
    hours = {str(p.id): list(prefecture_hours(p, settings)) for p in prefectures}
    return {"timezone": settings.timezone, "prefectures": hours}


def quiet_until(now: datetime, hours: tuple[str, str] | list[str], timezone: str) -> datetime | None:
    """The end of the quiet hours if ``now`` is inside them, else None (the same start and end: none)."""
    start, end = (time.fromisoformat(t) for t in hours)
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(timezone))
    at = local.time()
    inside = (start <= at or at < end) if start > end else (start <= at < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > local else ends + timedelta(days=1)


def quiet_by_prefecture(rule: dict | None, now: datetime) -> dict[int, datetime]:
    """Each prefecture of the rule that is in its quiet hours now, with when they end."""
    if not rule:
        return {}
    timezone = rule.get("timezone") or "Asia/Tokyo"
    ends = {int(key): quiet_until(now, hours, timezone) for key, hours in (rule.get("prefectures") or {}).items()}
    return {key: end for key, end in ends.items() if end is not None}


def round_quiet_until(kind: str, rule: dict | None, now: datetime, settings) -> datetime | None:
    """For the escalation ladder: the latest end of the quiet hours of any prefecture of a notice round
    that is quiet now (a round across prefectures waits for the last of them), else None. A notice
    round that kept no rule (started before rules were kept) follows the settings' default."""
    if kind != NOTICE_KIND:
        return None
    if not rule:
        rule = {"timezone": settings.timezone, "prefectures": {"0": list(settings.notice_quiet_hours)}}
    ends = quiet_by_prefecture(rule, now)
    return max(ends.values()) if ends else None


def hold_family_messages(
    session: Session, *, safety_round: SafetyRound, now: datetime, check_ids: list[int] | None = None
) -> int:
    """Queued messages of a notice round to family and carer contacts wait until the quiet hours of the
    patient's prefecture end. Returns how many were held."""
    if safety_round.kind != NOTICE_KIND:
        return 0
    held = 0
    for prefecture_id, until in quiet_by_prefecture(safety_round.quiet_hours, now).items():
        checks = (
            select(SafetyCheck.id)
            .join(Municipality, col(Municipality.id) == SafetyCheck.municipality_id)
            .where(SafetyCheck.round_id == safety_round.id, Municipality.prefecture_id == prefecture_id)
        )
        if check_ids:
            checks = checks.where(col(SafetyCheck.id).in_(check_ids))
        family = select(PatientContact.id).where(PatientContact.kind != "self")
        statement = (
            update(OutboxMessage)
            .where(
                OutboxMessage.round_id == safety_round.id,
                OutboxMessage.state == MessageState.queued.value,
                col(OutboxMessage.next_attempt_at) < until,
                col(OutboxMessage.contact_id).in_(family),
                col(OutboxMessage.check_id).in_(checks),
            )
            .values(next_attempt_at=until)
        )
        held += session.execute(statement).rowcount or 0
    return held
