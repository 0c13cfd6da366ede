"""Provider-neutral types every notifier shares.

The sender only ever sees these: a result with the provider's id, or one of two
exceptions that say whether trying again can help. Exception messages carry
codes and HTTP statuses only, because provider messages often quote the phone
number and exceptions end up in logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Twilio codes that mean the contact itself is wrong, so the register needs a
# person to fix the number rather than the sender retrying.
BAD_CONTACT_CODES = frozenset({"21211", "21614", "21610"})


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str
    error_code: str | None = None  # set by a status fetch of a message that failed


class NotifierError(Exception):
    """Base for provider failures; `code` is the provider's error code as text."""

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or (f"notifier error {code}" if code else "notifier error"))
        self.code = code


class PermanentSendError(NotifierError):
    """Retrying the same request will fail the same way.

    `bad_contact` separates "this number is wrong" (fix the register) from
    "our account or request is wrong" (fix the configuration).
    """

    def __init__(
        self, message: str = "", *, code: str | None = None, bad_contact: bool = False
    ) -> None:
        super().__init__(message, code=code)
        self.bad_contact = bad_contact


class TransientSendError(NotifierError):
    """Worth retrying with backoff; `retry_after` is the provider's hint in seconds."""

    def __init__(
        self, message: str = "", *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


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
