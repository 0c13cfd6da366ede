"""Message providers behind one small interface.

This package must never import `bcp_service`: the service depends on it, not
the other way round, so providers can be tested and reused on their own.
"""

from __future__ import annotations

from typing import Any

from notifiers import twilio_codes
from notifiers.base import (
    BAD_CONTACT_CODES,
    NotifierError,
    PermanentSendError,
    SendResult,
    SmsNotifier,
    TransientSendError,
    VoiceNotifier,
)
from notifiers.console import ConsoleNotifier
from notifiers.fake import FakeNotifier
from notifiers.timed import TimedNotifier
from notifiers.twilio import TwilioNotifier

NOTIFIERS: dict[str, type] = {
    "console": ConsoleNotifier,
    "fake": FakeNotifier,
    "twilio": TwilioNotifier,
}


def get_notifier(name: str, **options: Any) -> Any:
    """Build the notifier registered under `name` with provider-specific options."""
    try:
        cls = NOTIFIERS[name]
    except KeyError:
        valid = ", ".join(sorted(NOTIFIERS))
        raise ValueError(f"unknown notifier {name!r}; valid names: {valid}") from None
    return cls(**options)


__all__ = [
    "BAD_CONTACT_CODES",
    "NOTIFIERS",
    "ConsoleNotifier",
    "FakeNotifier",
    "NotifierError",
    "PermanentSendError",
    "SendResult",
    "SmsNotifier",
    "TimedNotifier",
    "TransientSendError",
    "TwilioNotifier",
    "VoiceNotifier",
    "get_notifier",
    "twilio_codes",
]
