"""Twilio's vocabulary (error codes, status words) and the neutral facts the service reads instead.

The service never compares a Twilio code: it asks ``fact_of`` what a code means and reads one of
the facts below. A new provider brings its own module like this one; ``bcp_service`` is unchanged.

Facts:

- ``unreachable``: the address is wrong on every channel (an invalid number): fix the register.
- ``not_this_channel``: the address cannot take this channel (a landline refuses SMS, opted out):
  try its other channel.
- ``account_problem``: our account or sender is refused (token rotated, account suspended, Japan
  not enabled, sender not allowed): nothing will go out on this lane until it is fixed; pause it,
  keep the messages.
- ``account_suspect``: a 401/403 without a code that names the account: a burst of them pauses.
- ``retry_later``: nothing went out, or it may not have; try again (``throttled``: slow down).
- ``failed``: this message failed for good, for a reason that is neither the address nor the account.
- ``delivered``: (a status word) the message reached the phone; statuses map with ``status_fact``.
"""

from __future__ import annotations

UNREACHABLE = "unreachable"
NOT_THIS_CHANNEL = "not_this_channel"
ACCOUNT_PROBLEM = "account_problem"
ACCOUNT_SUSPECT = "account_suspect"
RETRY_LATER = "retry_later"
FAILED = "failed"
DELIVERED = "delivered"

# Twilio's error pages: the number is invalid (every channel), it cannot receive SMS (a landline,
# an unknown subscriber, opted out), or it refuses calls.
NUMBER_BAD_CODES = frozenset({"21211", "21217", "13224"})
SMS_BAD_CODES = frozenset({"21614", "21610", "30005", "30006"})
VOICE_BAD_CODES = frozenset({"13225", "13227"})
# 20429 (too many requests) and 21611 (the sender's queue is full): nothing was sent, slow down.
RATE_LIMIT_CODES = frozenset({"20429", "21611"})
# 30001: the message waited too long in the sender's queue at Twilio: send it again later.
QUEUE_OVERFLOW_CODES = frozenset({"30001"})
# The account or the sender, not the message (issue 26.1): the reason names it for people.
ACCOUNT_REASONS = {
    "20003": "auth",  # authentication failed: the auth token was rotated or is wrong
    "20005": "account_inactive",  # the account is suspended or closed
    "21408": "geo_permission",  # sending to this region (Japan) is not enabled on the account
    "21606": "sender_not_allowed",  # the From number / sender ID may not send this
    "21612": "sender_not_allowed",  # this From/To pair cannot be used
}


# Twilio's message status words that move a message, as neutral states; the rest ("queued", "sending",
# "accepted") add nothing.
MESSAGE_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}

# A call's status words as delivery states: the delivery ladder keeps a late status from undoing a later one.
CALL_STATES = {
    "queued": "queued",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "sent",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def is_bad_address(code: str | None) -> bool:
    """The code says the address cannot take some channel (a status callback's ErrorCode)."""
    return fact_of(code, "sms") in (UNREACHABLE, NOT_THIS_CHANNEL) or fact_of(code, "voice") == NOT_THIS_CHANNEL


def fact_of(code: str | None, channel: str = "sms") -> str | None:
    """The neutral fact a Twilio error code says about a send on ``channel``; None for "nothing known"."""
    if not code:
        return None
    if code in ACCOUNT_REASONS:
        return ACCOUNT_PROBLEM
    if code in NUMBER_BAD_CODES:
        return UNREACHABLE
    if (channel == "sms" and code in SMS_BAD_CODES) or (channel == "voice" and code in VOICE_BAD_CODES):
        return NOT_THIS_CHANNEL
    if code in RATE_LIMIT_CODES or code in QUEUE_OVERFLOW_CODES:
        return RETRY_LATER
    return None


def is_throttle(code: str | None) -> bool:
    return code in RATE_LIMIT_CODES


def account_reason(code: str | None) -> str | None:
    return ACCOUNT_REASONS.get(code or "")


def status_fact(status: str) -> str:
    """A status word of a message or a call as a fact: ``delivered``, ``failed`` or ``pending``."""
    if status in ("delivered", "read", "completed", "answered"):
        return DELIVERED
    if status in ("failed", "undelivered", "busy", "no-answer", "canceled"):
        return FAILED
    return "pending"
