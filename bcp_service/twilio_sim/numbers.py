"""What Twilio refuses by the kind of number: SMS to a landline, SMS from a Japanese number, calls
from something that is not a phone number (Twilio's error pages 21614, 21606, 21212); and what the
account's own configuration refuses (``account_refusal``): a country whose geo permission is off
(21408), a recipient who replied STOP (21610), a caller ID the account does not own nor verified
(21210), a sender not allowed for the destination (21606 for a listed sender ID, 21612 for a
number no route reaches)."""

from __future__ import annotations

import re

import phonenumbers

TEXTABLE = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def _parse(number: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None


def number_kind(number: str, landlines: set[str]) -> str:
    """ "mobile", "landline" (a fixed line, an IP phone, toll-free…) or "invalid" (cannot be a number)."""
    if number in landlines:
        return "landline"
    parsed = _parse(number)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return "invalid"
    if not phonenumbers.is_valid_number(parsed):
        return "mobile"  # a made-up test number of the right length: accepted, as load tests need
    return "mobile" if phonenumbers.number_type(parsed) in TEXTABLE else "landline"


def sms_refusal(*, to: str, sender: str | None, landlines: set[str]) -> tuple[int, str] | None:
    """(code, message) when Twilio would refuse this SMS at once, else None."""
    if sender is not None:
        if sender.startswith("+"):
            parsed = _parse(sender)
            if parsed is None or parsed.country_code == 81:
                # Twilio sells no SMS-capable Japanese numbers.
                return 21606, (
                    "The 'From' phone number provided is not a valid, message-capable Twilio phone "
                    "number for this destination."
                )
        elif not SENDER_ID.match(sender):
            return (
                21212,
                f"The 'From' number {sender} is not a valid phone number, shortcode, or alphanumeric sender ID.",
            )
    kind = number_kind(to, landlines)
    if kind == "invalid":
        return 21211, f"The 'To' number {to} is not a valid phone number."
    if kind == "landline":
        return 21614, f"'To' number {to} is not a valid mobile number"
    return None


def call_refusal(*, to: str, caller_id: str) -> tuple[int, str] | None:
    parsed = _parse(caller_id) if caller_id.startswith("+") else None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return 21212, f"The 'From' number {caller_id} is not a valid phone number."
    if number_kind(to, set()) == "invalid":
        return 21211, f"The 'To' number {to} is not a valid phone number."
    return None


def account_refusal(config, *, to: str, sender: str | None, channel: str) -> tuple[int, str] | None:
    """(code, message) when the account's configuration (SimConfig) refuses this create, else None."""
    parsed = _parse(to)
    country = f"+{parsed.country_code}" if parsed is not None else None
    if country is not None and country in config.geo_permissions_off:
        return (
            21408,
            f"Permission to send an SMS or make a call has not been enabled for the region indicated by the 'To' number: {to}.",
        )
    if channel == "sms" and to in config.unsubscribed_numbers:
        return 21610, "Attempt to send to unsubscribed recipient"
    if channel == "voice" and config.owned_numbers and sender not in config.owned_numbers:
        return 21210, f"The source phone number provided, {sender}, is not yet verified for your account."
    if sender is not None and sender in config.refused_senders:
        return (
            21606,
            f"The From phone number {sender} is not a valid, SMS-capable inbound phone number or short code for your account.",
        )
    if to in config.unreachable_numbers:
        return 21612, f"The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS."
    return None
