"""Who SMS reaches: a number ``phonenumbers`` types as mobile (or cannot tell); landlines, 050 IP phones
and toll-free numbers do not take SMS in Japan (Twilio refuses them, 21614)."""

from __future__ import annotations

import phonenumbers

NumberType = phonenumbers.PhoneNumberType
TEXTABLE = frozenset({NumberType.MOBILE, NumberType.FIXED_LINE_OR_MOBILE, NumberType.UNKNOWN})
_TYPES_BY_PREFIX: dict[str, NumberType] = {}


def number_type(e164: str) -> NumberType:
    """``phonenumbers``' type of a stored (valid, E.164) number.

    The type of a number follows from its leading digits (in Japan 070/080/090 mobile, 050 IP
    phone, the rest fixed lines), so it is remembered by all but the last four digits: a 200,000
    patient round parses each prefix once instead of every number (26 µs each).
    """
    prefix = e164[:-4]
    found = _TYPES_BY_PREFIX.get(prefix)
    if found is None:
        try:
            found = phonenumbers.number_type(phonenumbers.parse(e164, None))
        except phonenumbers.NumberParseException:
            found = NumberType.UNKNOWN
        if len(_TYPES_BY_PREFIX) < 1 << 18:
            _TYPES_BY_PREFIX[prefix] = found
    return found


def can_text(e164: str) -> bool:
    return number_type(e164) in TEXTABLE
