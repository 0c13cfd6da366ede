"""One send rate for every worker on every machine: a token bucket row in the database.

Workers take tokens in chunks (up to a batch) so the bucket costs one short transaction per
chunk, not per message. PostgreSQL's clock is used on PostgreSQL so machines need not agree on
the time. A worker keeps chunk leftovers for at most a second; older leftovers are dropped, so a
worker that sat idle cannot burst past the shared rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from bcp_service.clock import aware
from bcp_service.models import SendRate
from bcp_service.models.base import utcnow

LEFTOVER_SECONDS = 1.0


class SharedRateLimiter:
    def __init__(
        self, session_factory: Callable[[], Session], *, rate: float, burst: float | None = None, name: str = "sms"
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive; use no limiter for an unlimited rate")
        self.session_factory = session_factory
        self.rate = rate
        # Half a second's worth may build up, but a worker waits only for a tenth of a second's worth:
        # a late wake-up (a busy machine) then finds the tokens still there instead of lost at the cap.
        self.burst = burst or max(1.0, rate / 2)
        self.chunk = max(1.0, min(self.burst, rate / 10))
        self.name = name
        self._local = 0
        self._local_at = 0.0

    async def acquire(self, wanted: int) -> int:
        """Wait until at least one token is free; return how many were taken (1..wanted)."""
        wanted = max(1, wanted)
        while True:
            if self._local and time.monotonic() - self._local_at < LEFTOVER_SECONDS:
                granted = min(wanted, self._local)
                self._local -= granted
                return granted
            self._local = 0
            ask = max(wanted, math.floor(self.chunk))
            granted, wait = await asyncio.to_thread(self.take, ask)
            if granted:
                self._local, self._local_at = granted - min(wanted, granted), time.monotonic()
                return min(wanted, granted)
            await asyncio.sleep(wait)

    def give_back(self, unused: int) -> None:
        """Keep tokens taken but not used (fewer messages were due) for this worker's next claim."""
        if unused > 0:
            if not self._local:
                self._local_at = time.monotonic()
            self._local += unused

    def take(self, wanted: int) -> tuple[int, float]:
        """Take up to ``wanted`` tokens in one transaction: (taken, seconds to wait when none)."""
        with self.session_factory() as session:
            row, now = self._lock_row(session)
            elapsed = max(0.0, (now - aware(row.updated_at)).total_seconds())
            tokens = min(self.burst, row.tokens + elapsed * self.rate)
            granted = min(wanted, math.floor(tokens))
            row.tokens = tokens - granted
            row.updated_at = now
            row.rate_per_second, row.burst = self.rate, self.burst
            session.add(row)
            session.commit()
        if granted:
            return granted, 0.0
        # Wait for a chunk rather than a single token: one transaction per chunk, not per message.
        return 0, (min(wanted, self.chunk) - tokens) / self.rate

    def _lock_row(self, session: Session) -> tuple[SendRate, datetime]:
        postgres = session.get_bind().dialect.name == "postgresql"
        now = aware(session.execute(text("SELECT clock_timestamp()")).scalar()) if postgres else utcnow()
        statement = (
            (pg_insert if postgres else sqlite_insert)(SendRate.__table__)
            .values(name=self.name, rate_per_second=self.rate, burst=self.burst, tokens=self.burst, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        session.execute(statement)
        row = session.exec(select(SendRate).where(SendRate.name == self.name).with_for_update()).one()
        return row, now
