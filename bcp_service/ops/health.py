"""What ``/healthz`` and the system status prove: the database takes a new insert, the journal a new line.

Updating a heartbeat row proved little: on a full disk PostgreSQL still rewrote that row in place while
refusing every answer insert (issue 28). So the probe inserts a row that needs new space in the tables'
own tablespace and rolls it back: on PostgreSQL it truncates ``health_probe`` first in the same
transaction, which gives the table a new, empty file, so the insert must extend it (fails with
``could not extend file``, SQLSTATE 53100, as the real inserts do). On SQLite the insert is larger than
a page (it needs new pages) and proves the file takes a write lock and is not read-only; SQLite writes
nothing to disk for a transaction rolled back, so the free space of the database's filesystem is checked
as well (``health_min_free_mb``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bcp_service.admission import is_busy
from bcp_service.models import HealthProbe
from bcp_service.webhooks.journal import Journal

PG_PROBE_BYTES = 512
BACKLOG_READ_LIMIT = 64 * 1024 * 1024  # bytes of journal read to count entries; beyond it, estimated


class DiskLow(OSError):
    """The database's filesystem has less free space than ``health_min_free_mb``."""


def probe_database(session: Session, *, min_free_mb: int = 0) -> None:
    """Raise the driver's error (or ``DiskLow``) when the database cannot take a new insert; writes nothing."""
    bind = session.get_bind()
    with session.begin_nested() as savepoint:
        if bind.dialect.name == "postgresql":
            session.execute(text("SET LOCAL lock_timeout = '2s'"))  # another process's probe holds it for ms
            session.execute(text("TRUNCATE health_probe"))
            session.execute(insert(HealthProbe).values(filler=os.urandom(PG_PROBE_BYTES)))
        else:
            page_size = int(session.execute(text("PRAGMA page_size")).scalar_one())
            session.execute(insert(HealthProbe).values(filler=os.urandom(2 * page_size)))
        savepoint.rollback()
    database = getattr(bind, "engine", bind).url.database  # a session bound to a connection (tests) or an engine
    if bind.dialect.name == "sqlite" and min_free_mb and database not in (None, "", ":memory:"):
        free = free_bytes(Path(str(database)).parent)
        if free < min_free_mb * 1024 * 1024:
            raise DiskLow(f"{free // (1024 * 1024)} MB free, {min_free_mb} MB needed")


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


@dataclass
class JournalHealth:
    writable: bool
    error: str | None = None
    files: int = 0
    entries: int = 0
    bytes: int = 0
    oldest_at: datetime | None = None
    free_bytes: int | None = None
    fallback_writable: bool | None = None  # the second location (``webhook_journal_fallback_dir``); None: none set

    def public(self) -> dict:
        data = asdict(self)
        data["oldest_at"] = self.oldest_at.isoformat() if self.oldest_at else None
        return data


def check_journal(journal: Journal, *, min_free_mb: int = 0) -> JournalHealth:
    """Can the journal take a line now (a file created, written, fsynced, removed), and what waits in it."""
    health = JournalHealth(writable=True)
    _can_write(journal.directory, health, min_free_mb)
    if journal.fallback is not None:
        health.fallback_writable = _can_write(journal.fallback.directory, JournalHealth(writable=True), min_free_mb)
    _count_backlog(journal, health)
    return health


def _can_write(directory: Path, health: JournalHealth, min_free_mb: int) -> bool:
    """A file created, written, fsynced and removed in ``directory``; the error and free space into ``health``."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = directory / f".health-{os.getpid()}"
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, b"{}\n")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        probe.unlink()
        health.free_bytes = free_bytes(directory)
        if min_free_mb and health.free_bytes < min_free_mb * 1024 * 1024:
            health.writable, health.error = False, "disk_low"
    except OSError as exc:
        health.writable, health.error = False, type(exc).__name__
    return health.writable


def _count_backlog(journal: Journal, health: JournalHealth) -> None:
    budget = BACKLOG_READ_LIMIT
    try:
        pending = journal.pending()
    except OSError:
        return
    for path in pending:
        try:
            size = path.stat().st_size
            health.files += 1
            health.bytes += size
            with path.open("rb") as handle:
                first = handle.readline()
                if size <= budget:
                    budget -= size
                    health.entries += first.count(b"\n") + handle.read().count(b"\n")
                else:
                    health.entries += max(1, size // max(1, len(first)))  # estimated from the first line
            at = json.loads(first).get("at") if first.strip() else None
        except (OSError, ValueError):
            continue
        if isinstance(at, int | float):
            when = datetime.fromtimestamp(at, UTC)
            health.oldest_at = min(health.oldest_at or when, when)


@dataclass
class DatabaseHealth:
    readable: bool = True
    writable: bool = True
    error: str | None = None
    busy: bool = False  # the write lock was not had in time: writes wait, nothing refused them

    @property
    def state(self) -> str:
        if self.busy and self.writable:
            return "busy"
        return "ok" if self.writable else ("unwritable" if self.readable else "unreadable")


@dataclass
class Health:
    database: DatabaseHealth = field(default_factory=DatabaseHealth)
    journal: JournalHealth = field(default_factory=lambda: JournalHealth(writable=True))


def check_write(session: Session, *, min_free_mb: int) -> DatabaseHealth:
    """The probe in the caller's unit of work; an outage (or low disk) is a finding, anything else a bug."""
    try:
        probe_database(session, min_free_mb=min_free_mb)
    except DiskLow:
        return DatabaseHealth(writable=False, error="disk_low")
    except DBAPIError as exc:  # the probe is fixed SQL: any refusal (a standby's read-only error too) is a finding
        if is_busy(exc):  # shed (issue 29.3): SQLite's lock not had within shed_wait_seconds: busy, not refused
            return DatabaseHealth(busy=True, error="busy")
        return DatabaseHealth(writable=False, error=type(exc).__name__)
    return DatabaseHealth()
