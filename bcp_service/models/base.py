"""Shared column helpers for table models, and the one time type of the service.

``UtcDateTime`` stores every instant in UTC and hands back aware UTC datetimes on both engines
(SQLite keeps no zone and returned naive values; PostgreSQL returned them in the session's zone).
A naive value written is taken as UTC (the project's convention); an aware one is converted. The
API then emits offsets (``Z``), and pages show ``settings.timezone`` (``bcp_service.timeutil``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

from bcp_service.timeutil import aware_utc


class UtcDateTime(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return aware_utc(value) if isinstance(value, datetime) else value

    def coerce_compared_value(self, op, value):
        # ``column - timedelta(...)`` is interval arithmetic, not a datetime to convert.
        if isinstance(value, datetime):
            return self
        return self.impl.coerce_compared_value(op, value)

    def process_result_value(self, value, dialect):
        return aware_utc(value) if isinstance(value, datetime) else value


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at_field():
    return Field(default_factory=utcnow, sa_type=UtcDateTime(), nullable=False)


def timestamp_field(nullable: bool = True):
    return Field(default=None, sa_type=UtcDateTime(), nullable=nullable)
