"""One worker's view of the sending lanes paused for an account problem (issue 26.1).

The database (``lanes``) holds every worker's pauses; this keeps the worker's copy, read every
``send_lane_check_seconds``, plus what the worker itself has just paused: a pause whose row the
database could not take yet stays paused here and is written at the next read, never dropped. A burst of
401/403 without an account code (``suspect``) pauses too. A paused lane asks the provider every
``send_account_probe_seconds`` whether the account works again (Twilio: fetch the account).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from bcp_service import lanes
from bcp_service.config import Settings
from bcp_service.db import unit_of_work

log = logging.getLogger("bcp_service.outbox")


class LanePauses:
    def __init__(self, session_factory, settings: Settings, worker_id: str) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.worker_id = worker_id
        self.paused: dict[str, str] = {}  # lane -> reason
        self._unrecorded: dict[str, str | None] = {}  # lane -> code: paused here, its row not yet written
        self._suspects: Counter[str] = Counter()
        self._epoch = 0

    def succeeded(self, lane: str) -> None:
        self._suspects[lane] = 0

    def suspect_below_burst(self, lane: str) -> bool:
        """A 401/403 naming no account code: True while the burst that pauses the lane is not reached."""
        self._suspects[lane] += 1
        return self._suspects[lane] < self.settings.send_account_burst

    async def pause(self, lane: str, reason: str, code: str | None) -> None:
        if lane in self.paused:
            return
        self.paused[lane] = reason
        self._epoch += 1
        self._unrecorded[lane] = code
        await self._record()

    async def _record(self) -> None:
        for lane, code in list(self._unrecorded.items()):
            try:
                await asyncio.to_thread(self._write, lane, self.paused.get(lane, "account"), code)
            except Exception:  # the database is busy or away: stays paused here, written at the next read
                log.warning("outbox.lane_pause_unrecorded", extra={"lane": lane}, exc_info=True)
                continue
            self._unrecorded.pop(lane, None)

    def _write(self, lane: str, reason: str, code: str | None) -> None:
        with unit_of_work(self.session_factory) as session:
            lanes.pause_lane(session=session, lane=lane, reason=reason, code=code)

    async def read(self) -> None:
        """Every worker's pauses from the database; a pause of ours made meanwhile is kept (its row may
        not have been written when the read began)."""
        await self._record()
        epoch = self._epoch
        found = await asyncio.to_thread(self._in_database)
        if epoch != self._epoch:
            found = {**found, **self.paused}
        found |= {lane: self.paused[lane] for lane in self._unrecorded if lane in self.paused}
        for lane in set(self.paused) - set(found):
            self._suspects[lane] = 0
            log.info("outbox.lane_resume_seen", extra={"worker_id": self.worker_id, "lane": lane})
        self.paused = found

    def _in_database(self) -> dict[str, str]:
        with self.session_factory() as session:
            return {pause.lane: pause.reason for pause in lanes.list_pauses(session=session)}

    async def prober(self, notifier) -> None:
        """A provider without an account check resumes the lane: the next message is the probe, and
        pauses it again if the problem remains (nothing is failed either way)."""
        while True:
            await asyncio.sleep(self.settings.send_account_probe_seconds)
            if not self.paused:
                continue
            try:
                await self._probe(notifier)
            except Exception:
                log.warning("outbox.lane_probe_failed", extra={"worker_id": self.worker_id}, exc_info=True)

    async def _probe(self, notifier) -> None:
        check = getattr(notifier, "check_account", None)
        healthy = True
        if callable(check) and getattr(notifier, "supports_account_check", True):
            try:
                async with asyncio.timeout(self.settings.send_timeout_seconds + 5):
                    await check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                healthy = False
                log.info(
                    "outbox.lane_probe_refused", extra={"worker_id": self.worker_id, "code": getattr(exc, "code", None)}
                )
        lanes_now = sorted(self.paused)
        await asyncio.to_thread(self._after_probe, lanes_now, healthy)
        if healthy:
            for lane in lanes_now:
                self.paused.pop(lane, None)
                self._suspects[lane] = 0

    def _after_probe(self, lanes_now: list[str], healthy: bool) -> None:
        with unit_of_work(self.session_factory) as session:
            for lane in lanes_now:
                if healthy:
                    lanes.resume_lane(session=session, lane=lane, by="probe")
                else:
                    lanes.mark_probed(session=session, lane=lane)
