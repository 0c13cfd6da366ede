"""Failed-login throttling per account and per address, kept in the database so every process agrees.

Policy (settings): after ``login_max_failures_account`` failures within ``login_window_minutes`` the
account is locked for ``login_lock_minutes``; an address gets ``login_max_failures_address``. A
successful login clears the account counter (not the address counter).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from starlette.requests import Request

from bcp_service.config import Settings
from bcp_service.models import LoginThrottle
from bcp_service.models.base import utcnow


def client_address(request: Request | None) -> str | None:
    """The address a request came from (throttled here, recorded by the audit)."""
    if request is None or request.client is None:
        return None
    return request.client.host


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)
    return value


def locked_until(session: Session, keys: list[str]) -> datetime | None:
    now = utcnow()
    latest = None
    for key in keys:
        row = session.get(LoginThrottle, key)
        until = _aware(row.locked_until) if row else None
        if until and until > now and (latest is None or until > latest):
            latest = until
    return latest


def lock_rows(session: Session, keys: list[str]) -> None:
    """Take the write lock (SQLite) or the rows' locks (PostgreSQL) and reread the rows, so that the
    counts written next are not those of a read made before the password hash."""
    session.execute(
        select(LoginThrottle)
        .where(col(LoginThrottle.key).in_(sorted(keys)))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def record_failure(session: Session, key: str, limit: int, settings: Settings) -> None:
    now = utcnow()
    window = timedelta(minutes=settings.login_window_minutes)
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now)
    if _aware(row.window_started_at) + window < now:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
        row.failures, row.window_started_at = 0, now
    session.add(row)
    session.flush()


def clear(session: Session, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)
        session.flush()
