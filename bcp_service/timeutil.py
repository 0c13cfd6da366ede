"""Time in one place: instants are UTC everywhere (``models.base.UtcDateTime``, the API's ``Z``), and
people see them in ``settings.timezone`` (``BCP_TIMEZONE``, Asia/Tokyo by default), the only display zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache
def display_zone() -> ZoneInfo:
    from bcp_service.config import get_settings

    return get_settings().tz


def aware_utc(value: datetime) -> datetime:
    """A stored instant as aware UTC (a naive value is UTC by the project's convention)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """An instant in the display zone."""
    return aware_utc(value).astimezone(display_zone())
