"""Riding out a database outage: tell an outage from a bug, and wait for the database with backoff.

A failover, a restart, a full disk or a read-only SQLite file all surface as driver errors
(``OperationalError`` and friends). A process that meets one waits, with capped exponential backoff
and jitter, and carries on when the database is back; it exits only on a signal (issue 19: the
worker used to exit on the first one and stayed down until someone restarted it by hand).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
import weakref
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger("bcp_service.db_outage")

# This process's loops that wait for the database now (-> since), and the last outage's length: the
# heartbeat carries them (bcp_service.heartbeat) and the board says "waiting for the database".
# Weak: a loop that is gone (an app or a worker of the past) waits for nothing.
_waiting: weakref.WeakKeyDictionary[DatabaseWait, float] = weakref.WeakKeyDictionary()
_last_wait_seconds: float | None = None
_refused_since: float | None = None  # a page's write was refused (its audit row deferred) since then
_lock = threading.Lock()


def waiting_since() -> datetime | None:
    """When the oldest of this process's waits for the database began (or a write of a page was refused:
    ``write_refused``); None when none waits."""
    with _lock:
        since = min([*_waiting.values(), *([_refused_since] if _refused_since is not None else [])], default=None)
    return None if since is None else datetime.fromtimestamp(since, UTC)


def write_refused() -> None:
    """A page's write (its audit row, kept for later: audit/deferred.py) was refused by the database; the
    pages say the database cannot be written until this process writes again (``database_wrote``)."""
    global _refused_since
    with _lock:
        if _refused_since is None:
            _refused_since = time.time()


def last_wait_seconds() -> float | None:
    return _last_wait_seconds


def database_wrote() -> None:
    """The database just took a write of this process: none of its loops waits for it any more.

    (The API's group commits may meet an outage and then see no webhook for a while; its /healthz
    write proves the database is back, and its beats must stop saying it waits.) A loop that fails
    again simply waits again.
    """
    global _refused_since
    _refused_since = None
    if not _waiting:
        return
    with _lock:
        waits = list(_waiting.keys())
    for wait in waits:
        wait.succeeded()


_BUG = re.compile(r"no such (table|column|function)|syntax error|has no column named")


def is_outage(exc: BaseException) -> bool:
    """True when the database (not this item of work) is the problem: waiting will fix it."""
    if isinstance(exc, OperationalError) and _BUG.search(str(exc.orig if isinstance(exc, DBAPIError) else exc)):
        return False  # SQLite reports a wrong statement as "operational" too: that is a bug, waiting fixes nothing
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class DatabaseWait:
    """Backoff state of one loop that talks to the database (the worker's claimer, its recorder...)."""

    def __init__(self, name: str, *, base: float = 0.2, cap: float = 5.0, rng: random.Random | None = None) -> None:
        self.name = name
        self.base, self.cap = base, cap
        self.rng = rng or random.Random()
        self.failures = 0
        self.waiting_since: float | None = None  # time.time() of the first failure of this outage

    def delay(self) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, self.failures - 1))
        return ceiling / 2 + self.rng.random() * ceiling / 2  # jitter: processes do not come back in step

    async def failed(self, exc: BaseException, *, worker_id: str = "") -> None:
        """Log (once per outage, without the statement's parameters) and wait before the next try."""
        await asyncio.sleep(self.note(exc, worker_id=worker_id))

    def note(self, exc: BaseException, *, worker_id: str = "") -> float:
        """``failed`` without the wait, for threads that wait their own way; returns the delay to wait."""
        self.failures += 1
        if is_outage(exc):
            if self.waiting_since is None:
                self.waiting_since = time.time()
                with _lock:
                    _waiting[self] = self.waiting_since
                log.warning(
                    "database.waiting",
                    extra={"loop": self.name, "worker_id": worker_id, "error": type(exc.__cause__ or exc).__name__},
                )
        else:
            log.error(
                "database.unexpected_error",
                extra={"loop": self.name, "worker_id": worker_id, "error": type(exc).__name__},
            )
        return self.delay()

    def succeeded(self) -> None:
        global _last_wait_seconds
        if self.waiting_since is not None:
            waited = round(time.time() - self.waiting_since, 1)
            log.warning("database.back", extra={"loop": self.name, "waited_seconds": waited})
            with _lock:
                _waiting.pop(self, None)
            _last_wait_seconds = waited
        self.failures = 0
        self.waiting_since = None
