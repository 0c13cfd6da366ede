"""Wrapper that times and logs every provider call.

Logs carry the provider id, duration and error code only: recipients and
message bodies are personal data and stay out of logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from notifiers.base import (
    NotifierError,
    PermanentSendError,
    SendResult,
    SmsNotifier,
    TransientSendError,
)

log = logging.getLogger("notifiers")


class TimedNotifier:
    def __init__(self, inner: SmsNotifier, *, logger: logging.Logger | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self._log = logger or log

    @property
    def supports_voice(self) -> bool:
        return callable(getattr(self.inner, "place_call", None))

    async def send_sms(
        self, *, to: str, body: str, status_callback: str | None = None, validity_period: int | None = None
    ) -> SendResult:
        return await self._timed(
            "sms",
            lambda: self.inner.send_sms(
                to=to, body=body, status_callback=status_callback, validity_period=validity_period
            ),
        )

    async def place_call(
        self, *, to: str, twiml_url: str, status_callback: str | None = None, fallback_url: str | None = None
    ) -> SendResult:
        if not self.supports_voice:
            raise TypeError(f"notifier {self.name!r} cannot place calls")
        place_call = self.inner.place_call  # type: ignore[attr-defined]
        return await self._timed(
            "voice",
            lambda: place_call(to=to, twiml_url=twiml_url, status_callback=status_callback, fallback_url=fallback_url),
        )

    @property
    def supports_fetch(self) -> bool:
        return callable(getattr(self.inner, "fetch_status", None))

    async def fetch_status(self, provider_id: str) -> SendResult:
        """A message's status now, from the provider (the reconciliation job; logs carry no personal data)."""
        return await self._timed("fetch", lambda: self.inner.fetch_status(provider_id))  # type: ignore[attr-defined]

    @property
    def supports_account_check(self) -> bool:
        return callable(getattr(self.inner, "check_account", None))

    async def check_account(self) -> None:
        """The paused lane's probe: raises the provider's error while the account is refused."""
        started = time.perf_counter()
        try:
            await self.inner.check_account()  # type: ignore[attr-defined]
        except Exception as exc:
            self._log_failure("account", exc, _ms_since(started))
            raise

    @property
    def supports_lookup(self) -> bool:
        return callable(getattr(self.inner, "find_sent", None))

    async def find_sent(
        self, *, to: str, since: datetime, body: str | None = None, call: bool = False
    ) -> SendResult | None:
        """A send whose answer was lost, found at the provider (logs carry no personal data)."""
        find = self.inner.find_sent  # type: ignore[attr-defined]
        started = time.perf_counter()
        try:
            result: SendResult | None = await find(to=to, since=since, body=body, call=call)
        except Exception as exc:
            self._log_failure("lookup", exc, _ms_since(started))
            raise
        self._log.info(
            "notifier.looked_up",
            extra={
                "event": "notifier.looked_up",
                "notifier": self.name,
                "channel": "voice" if call else "sms",
                "provider_id": result.provider_id if result else None,
                "duration_ms": _ms_since(started),
            },
        )
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _timed(self, channel: str, call: Callable[[], Awaitable[SendResult]]) -> SendResult:
        started = time.perf_counter()
        try:
            result = await call()
        except Exception as exc:
            self._log_failure(channel, exc, _ms_since(started))
            raise
        self._log.info(
            "notifier.sent",
            extra={
                "event": "notifier.sent",
                "notifier": self.name,
                "channel": channel,
                "provider_id": result.provider_id,
                "provider_status": result.status,
                "duration_ms": _ms_since(started),
            },
        )
        return result

    def _log_failure(self, channel: str, exc: Exception, duration_ms: float) -> None:
        if isinstance(exc, TransientSendError):
            kind = "transient"
        elif isinstance(exc, PermanentSendError):
            kind = "permanent"
        elif isinstance(exc, NotifierError):
            kind = "unknown"
        else:
            kind = "unexpected"
        fields = {
            "event": "notifier.failed",
            "notifier": self.name,
            "channel": channel,
            "error_kind": kind,
            "error_code": getattr(exc, "code", None),
            "error_type": type(exc).__name__,
            "bad_contact": getattr(exc, "bad_contact", None),
            "retry_after": getattr(exc, "retry_after", None),
            "duration_ms": duration_ms,
        }
        # Transient failures are routine under load (429s); they should not page anyone.
        level = logging.WARNING if kind == "transient" else logging.ERROR
        if channel == "fetch":
            # A status fetch is reconciliation's: it logs one line per pass with the counts and gives up on
            # a message the provider does not know (issue 28.4: a 404 was an ERROR line per message per pass).
            level = logging.INFO
        self._log.log(level, "notifier.failed", extra=fields)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
