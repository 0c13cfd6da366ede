"""Who SMS reaches: a number ``phonenumbers`` types as mobile (or cannot tell); landlines, 050 IP phones
and toll-free numbers do not take SMS in Japan (Twilio refuses them, 21614)."""

from __future__ import annotations

import re

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


# The registry's numbers are Japanese; a round chooses most first messages in SQL (rounds.creation) with
# the pattern below, which only ever names numbers ``can_text`` accepts (the rest are chosen in Python).
SURE_MOBILE_REGION = "JP"
_SIMPLE_PATTERN = re.compile(r"[0-9\\d()?:|\[\]{},-]*")
_EARLIER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def sure_mobile_sql_patterns() -> tuple[str, str] | None:
    """(a number that is surely textable, a number that may be something else): PostgreSQL regular expressions.

    Built from ``phonenumbers``' own metadata for Japan, as ``number_type`` reads it: a number that fits the
    mobile pattern (at a mobile length) is MOBILE or FIXED_LINE_OR_MOBILE, both textable, unless it fits a
    type checked before (premium rate, toll free, IP phone, pager...): those are the second pattern, whatever
    the length. Both are conservative: a number outside the first goes to ``can_text`` in Python. None when
    the metadata uses regular-expression syntax beyond what both engines read alike (then all go to Python).
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(SURE_MOBILE_REGION)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        return None
    prefix = re.escape(f"+{metadata.country_code}")
    mobile = metadata.mobile
    others = [
        getattr(metadata, name).national_number_pattern
        for name in _EARLIER_TYPES
        if getattr(metadata, name, None) is not None and getattr(metadata, name).national_number_pattern
    ]
    if not all(_SIMPLE_PATTERN.fullmatch(pattern) for pattern in (mobile.national_number_pattern, *others)):
        return None
    lengths = "|".join(rf"[0-9]{{{length}}}" for length in mobile.possible_length)
    # The length is checked by a lookahead's equivalent: both alternatives must match the whole national number.
    sure = rf"^{prefix}(?=(?:{lengths})$)(?:{mobile.national_number_pattern})$"
    other = rf"^{prefix}(?:{'|'.join(f'(?:{p})' for p in others)})$" if others else "^$"
    return sure, other
