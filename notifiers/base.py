"""Provider-neutral types every notifier shares.

The sender only ever sees these: a result with the provider's id, or one of two
exceptions that say whether trying again can help. Exception messages carry
codes and HTTP statuses only, because provider messages often quote the phone
number and exceptions end up in logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from notifiers import twilio_codes as facts

# Twilio codes that mean the contact itself is wrong, so the register needs a
# person to fix the number rather than the sender retrying.
BAD_CONTACT_CODES = frozenset({"21211", "21614", "21610"})


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str
    error_code: str | None = None  # set by a status fetch of a message that failed


class NotifierError(Exception):
    """Base for provider failures; `code` is the provider's error code as text.

    `fact` is what the service reads (notifiers/twilio_codes.py: ``unreachable``, ``not_this_channel``,
    ``account_problem``, ``retry_later``, ...); `reason` names an account problem for people. Both
    default to what the code says, so a fake provider raising a Twilio code means the same.
    """

    def __init__(
        self, message: str = "", *, code: str | None = None, fact: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message or (f"notifier error {code}" if code else "notifier error"))
        self.code = code
        self.fact = fact or facts.fact_of(code)
        self.reason = reason or facts.account_reason(code)


class PermanentSendError(NotifierError):
    """Retrying the same request will fail the same way.

    `bad_contact` separates "this number is wrong" (fix the register) from
    "our account or request is wrong" (fix the configuration).
    """

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        bad_contact: bool = False,
        fact: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, code=code, fact=fact, reason=reason)
        if bad_contact and self.fact is None:
            self.fact = facts.UNREACHABLE
        self.bad_contact = bad_contact or self.fact in (facts.UNREACHABLE, facts.NOT_THIS_CHANNEL)


class TransientSendError(NotifierError):
    """Worth retrying with backoff; `retry_after` is the provider's hint in seconds."""

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        retry_after: float | None = None,
        throttled: bool | None = None,
        fact: str | None = None,
    ) -> None:
        super().__init__(message, code=code, fact=fact or facts.RETRY_LATER)
        self.retry_after = retry_after
        # Refused before anything was sent (429, a full sender queue): slow down, not an attempt.
        self.throttled = facts.is_throttle(code) if throttled is None else throttled


@runtime_checkable
class SmsNotifier(Protocol):
    name: str

    async def send_sms(
        self, *, to: str, body: str, status_callback: str | None = None, validity_period: int | None = None
    ) -> SendResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class VoiceNotifier(Protocol):
    name: str

    async def place_call(
        self, *, to: str, twiml_url: str, status_callback: str | None = None, fallback_url: str | None = None
    ) -> SendResult: ...

    async def aclose(self) -> None: ...
