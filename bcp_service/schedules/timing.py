"""When a schedule fires: a crontab line or a fixed interval, in the schedule's time zone.

APScheduler's trigger classes do the calendar arithmetic. Its 3.x crontab parser numbers
weekdays from Monday (0 = Monday) where crontab numbers them from Sunday; numeric weekdays are
therefore rewritten as names here, so "0 9 * * 1" means Monday 09:00 as in crontab.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bcp_service.clock import aware

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
ONE_MICROSECOND = timedelta(microseconds=1)
MAX_FIRE_TIMES = 10_000


@dataclass(frozen=True)
class Timing:
    """What decides the fire times of a schedule (a subset of its columns)."""

    cron: str | None
    interval_minutes: int | None
    timezone: str
    anchor: datetime  # an interval's fire times are anchor + k * interval
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @classmethod
    def of(cls, schedule) -> Timing:
        starts_at = schedule.starts_at and aware(schedule.starts_at)
        return cls(
            schedule.cron,
            schedule.interval_minutes,
            schedule.timezone,
            starts_at or aware(schedule.created_at),
            starts_at,
            schedule.ends_at and aware(schedule.ends_at),
        )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}' (e.g. Asia/Tokyo)") from None


def build_trigger(timing: Timing) -> CronTrigger | IntervalTrigger:
    tz = zone(timing.timezone)
    if (timing.cron is None) == (timing.interval_minutes is None):
        raise ValueError("give exactly one of cron or interval_minutes")
    if timing.interval_minutes is not None:
        if timing.interval_minutes <= 0:
            raise ValueError("interval_minutes must be positive")
        return IntervalTrigger(minutes=timing.interval_minutes, start_date=timing.anchor, timezone=tz)
    fields = timing.cron.split()
    if len(fields) != 5:
        raise ValueError("a crontab line has five fields: minute hour day-of-month month day-of-week")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(weekday), timezone=tz
        )
    except ValueError as exc:
        raise ValueError(f"crontab line '{timing.cron}' is not valid: {exc}") from None


def crontab_weekdays(field: str) -> str:
    """Rewrite crontab weekday numbers (0 or 7 = Sunday) as APScheduler's names."""
    parts = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        if not any(c.isdigit() for c in base) and not step_text:
            parts.append(part)  # "*", "mon-fri", "sun"
            continue
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = _weekday_number(low_text), _weekday_number(high_text)
        else:
            low = _weekday_number(base)
            high = 6 if step_text else low
        step = int(step_text) if step_text else 1
        if step <= 0 or low > high:
            raise ValueError(f"crontab weekday field '{field}' is not valid")
        parts.extend(WEEKDAYS[n] for n in range(low, high + 1, step))
    return ",".join(dict.fromkeys(parts))


def _weekday_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text.lower() in WEEKDAYS:
        return WEEKDAYS.index(text.lower())
    raise ValueError(f"'{text}' is not a weekday (0-7 or sun-sat)")


def iter_fire_times(timing: Timing, *, after: datetime, until: datetime | None = None) -> Iterator[datetime]:
    """Fire times strictly after ``after`` and no later than ``until`` (and ends_at), oldest first."""
    trigger = build_trigger(timing)
    moment = aware(after)
    if timing.starts_at is not None and moment < timing.starts_at:
        moment = timing.starts_at - ONE_MICROSECOND
    limit = min(t for t in (until, timing.ends_at) if t is not None) if (until or timing.ends_at) else None
    for _ in range(MAX_FIRE_TIMES):
        upcoming = trigger.get_next_fire_time(None, moment + ONE_MICROSECOND)
        if upcoming is None or (limit is not None and upcoming > limit):
            return
        yield upcoming
        moment = upcoming


def next_fire_times(timing: Timing, *, after: datetime, count: int = 5) -> list[datetime]:
    times = []
    for moment in iter_fire_times(timing, after=after):
        times.append(moment)
        if len(times) >= count:
            break
    return times


def shortest_gap(timing: Timing, *, after: datetime, samples: int = 60) -> timedelta | None:
    """The shortest time between two fire times among the next few (None: fires once or never)."""
    times = next_fire_times(timing, after=after, count=samples)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return min(gaps, default=None)
