"""Phone numbers: parsed with ``phonenumbers`` and stored as E.164, Japan as the default region."""

from __future__ import annotations

import phonenumbers

MESSAGE_INVALID = "電話番号として読めません (not a valid phone number)"


def normalise_phone(value: str, region: str = "JP") -> str:
    """Return the E.164 form of ``value`` or raise ``ValueError`` with a message a person can act on."""
    text = (value or "").strip()
    if not text:
        raise ValueError("電話番号が空です (phone number is empty)")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(MESSAGE_INVALID) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(MESSAGE_INVALID)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """Whether an E.164 number can receive SMS (Japanese 070/080/090 numbers and other mobiles)."""
    parsed = phonenumbers.parse(e164, None)
    kind = phonenumbers.number_type(parsed)
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def national_format(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)


def normalise_japanese_phone(value: str) -> str:
    """``normalise_phone`` for a number that must be Japanese (+81): an on-call number (issue 25.4)."""
    e164 = normalise_phone(value)
    if not e164.startswith("+81"):
        raise ValueError("日本の電話番号を入れてください (a Japanese phone number)")
    return e164
