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
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger("bcp_service.outage")


def is_outage(exc: BaseException) -> bool:
    """True when the database (not this item of work) is the problem: waiting will fix it."""
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
        self.failures += 1
        if is_outage(exc):
            if self.waiting_since is None:
                self.waiting_since = time.time()
                log.warning("database.waiting", extra={"loop": self.name, "worker_id": worker_id,
                                                       "error": type(exc.__cause__ or exc).__name__})
        else:
            log.error("database.unexpected_error", extra={"loop": self.name, "worker_id": worker_id,
                                                          "error": type(exc).__name__})
        await asyncio.sleep(self.delay())

    def succeeded(self) -> None:
        if self.waiting_since is not None:
            log.warning("database.back", extra={"loop": self.name,
                                                "waited_seconds": round(time.time() - self.waiting_since, 1)})
        self.failures = 0
        self.waiting_since = None
