"""A circuit breaker per lane (sms, voice): while the provider fails every request, pause the lane.

Without it a provider outage burns every message's tries at once (issue 19: a 90-second outage
failed 569 of 2,920 messages). When ``threshold`` sends in a row fail transiently, the lane opens:
senders wait instead of sending; after ``pause`` one probe goes out; a success closes the lane, a
failure reopens it for twice as long (capped). Throttling (429) is not a failure here: the worker
already slows down for it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

log = logging.getLogger("bcp_service.outbox")


class Breaker:
    def __init__(self, lane: str, *, threshold: int = 10, pause: float = 2.0, max_pause: float = 30.0) -> None:
        self.lane = lane
        self.threshold = max(1, threshold)
        self.first_pause, self.max_pause = pause, max_pause
        self.pause = pause
        self.failures = 0
        self.open_until: float | None = None  # loop time when the next probe may go
        self.unavailable_since: datetime | None = None
        self._probing = False
        self.opened = 0

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    async def admit(self) -> bool:
        """Wait until this send may go; True when it is the probe of an open lane."""
        loop = asyncio.get_running_loop()
        while self.open_until is not None:
            wait = self.open_until - loop.time()
            if wait <= 0 and not self._probing:
                self._probing = True
                return True
            await asyncio.sleep(max(wait, 0.05))
        return False

    def release_probe(self) -> None:
        """The probe was not sent after all (the message had expired): the next send probes."""
        self._probing = False

    def succeeded(self, probe: bool = False) -> None:
        self.failures = 0
        if self.open_until is not None and (probe or not self._probing):
            log.warning(
                "outbox.lane_closed", extra={"lane": self.lane, "unavailable_seconds": self._unavailable_seconds()}
            )
            self.open_until, self.unavailable_since, self.pause = None, None, self.first_pause
        if probe:
            self._probing = False

    def failed(self, probe: bool = False) -> None:
        """A transient failure (5xx, timeout, connection refused) of one send."""
        loop = asyncio.get_running_loop()
        self.failures += 1
        if probe:
            self._probing = False
            self.pause = min(self.max_pause, self.pause * 2)
            self.open_until = loop.time() + self.pause
        elif self.open_until is None and self.failures >= self.threshold:
            self.opened += 1
            self.unavailable_since = datetime.now(UTC)
            self.open_until = loop.time() + self.pause
            log.warning(
                "outbox.lane_open", extra={"lane": self.lane, "failures": self.failures, "pause_seconds": self.pause}
            )

    def _unavailable_seconds(self) -> float | None:
        if self.unavailable_since is None:
            return None
        return round((datetime.now(UTC) - self.unavailable_since).total_seconds(), 1)
