"""In-memory notifier for tests: records what was sent and fails on request."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from notifiers.base import SendResult

# One counter for the process, tagged with the pid: two fake providers (a worker killed and its
# successor, or two workers) never hand out the same id, as Twilio never would. Ids restarting at 1 per
# instance made a second worker's receipts land on the first worker's messages (a flaky test).
_IDS = itertools.count(1)


def _next_id(kind: str) -> str:
    return f"FAKE-{kind}{os.getpid():x}{next(_IDS):08d}"


@dataclass(frozen=True)
class SentMessage:
    to: str
    body: str
    status_callback: str | None
    provider_id: str
    at: datetime
    validity_period: int | None = None


@dataclass(frozen=True)
class PlacedCall:
    to: str
    twiml_url: str
    status_callback: str | None
    provider_id: str
    at: datetime
    fallback_url: str | None = None


@dataclass(frozen=True)
class FailedAttempt:
    channel: str
    to: str
    error: BaseException
    at: datetime


@dataclass
class _QueuedFailure:
    error: BaseException
    remaining: int


@dataclass
class FakeNotifier:
    """Successful sends land in `sent` / `calls`; failed ones in `failures`.

    Failures queued with `fail_next` are used first, in order; `fail_for`
    makes one number fail every time until `clear_failures`.
    """

    name: str = "fake"
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)  # numbers looked up before a resend (find_sent)
    failures: list[FailedAttempt] = field(default_factory=list)
    closed: bool = False
    statuses: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    account_error: BaseException | None = None  # what check_account raises (a rotated token...)
    _queued: list[_QueuedFailure] = field(default_factory=list, repr=False)
    _by_number: dict[str, BaseException] = field(default_factory=dict, repr=False)

    def fail_next(self, exc: BaseException, times: int = 1) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        self._queued.append(_QueuedFailure(exc, times))

    def fail_for(self, number: str, exc: BaseException) -> None:
        self._by_number[number] = exc

    def clear_failures(self) -> None:
        self._queued.clear()
        self._by_number.clear()

    def reset(self) -> None:
        self.clear_failures()
        self.sent.clear()
        self.calls.clear()
        self.failures.clear()

    @property
    def attempts(self) -> int:
        return len(self.sent) + len(self.calls) + len(self.failures)

    def _maybe_fail(self, channel: str, to: str) -> None:
        error: BaseException | None = None
        if self._queued:
            head = self._queued[0]
            error = head.error
            head.remaining -= 1
            if head.remaining == 0:
                self._queued.pop(0)
        elif to in self._by_number:
            error = self._by_number[to]
        if error is not None:
            self.failures.append(FailedAttempt(channel, to, error, _now()))
            raise error

    async def send_sms(
        self, *, to: str, body: str, status_callback: str | None = None, validity_period: int | None = None
    ) -> SendResult:
        self._maybe_fail("sms", to)
        provider_id = _next_id("SM")
        self.sent.append(SentMessage(to, body, status_callback, provider_id, _now(), validity_period))
        return SendResult(provider_id=provider_id, status="queued")

    async def place_call(
        self, *, to: str, twiml_url: str, status_callback: str | None = None, fallback_url: str | None = None
    ) -> SendResult:
        self._maybe_fail("voice", to)
        provider_id = _next_id("CA")
        self.calls.append(PlacedCall(to, twiml_url, status_callback, provider_id, _now(), fallback_url))
        return SendResult(provider_id=provider_id, status="queued")

    async def find_sent(
        self, *, to: str, since: datetime, body: str | None = None, call: bool = False
    ) -> SendResult | None:
        """What the provider's list would find: the newest send to ``to`` since ``since`` (same text for SMS)."""
        self.lookups.append(to)
        records: list[SentMessage | PlacedCall] = [*self.calls] if call else [*self.sent]
        for record in reversed(records):
            if record.to == to and record.at >= since and (call or getattr(record, "body", None) == body):
                return SendResult(provider_id=record.provider_id, status="queued")
        return None

    async def fetch_status(self, provider_id: str) -> SendResult:
        """What the provider says now: ``statuses[id]`` if set (status, error code), else "delivered"."""
        self.fetched.append(provider_id)
        status, code = self.statuses.get(provider_id, ("delivered", None))
        return SendResult(provider_id=provider_id, status=status, error_code=code)

    async def check_account(self) -> None:
        if self.account_error is not None:
            raise self.account_error

    async def aclose(self) -> None:
        self.closed = True


def _now() -> datetime:
    return datetime.now(UTC)
