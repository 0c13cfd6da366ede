"""Municipality codes: our 6-digit 全国地方公共団体コード and the Agency's 7-digit city codes.

Our municipalities are keyed by the 6-digit local-government code (5 digits and a check digit,
e.g. 千葉市 121002). JMA's 気象・地震・火山情報／市町村等 codes are 7 digits that begin with the
same 5-digit code (千葉市中央区 1210100 → 12101). Government-ordinance cities are reported by
ward, so a ward's code has to be folded into its city's through a ward table.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

_WEIGHTS = (6, 5, 4, 3, 2)


def check_digit(code5: str) -> str:
    """Check digit of a 5-digit local-government code (総務省 standard: weights 6..2, mod 11)."""
    if len(code5) != 5 or not code5.isascii() or not code5.isdigit():
        raise ValueError(f"'{code5}' is not a 5-digit local-government code")
    remainder = sum(int(d) * w for d, w in zip(code5, _WEIGHTS, strict=False)) % 11
    return str((11 - remainder) % 10)


def is_valid_municipality_code(code6: str) -> bool:
    if len(code6) != 6 or not code6.isascii() or not code6.isdigit():
        return False
    return check_digit(code6[:5]) == code6[5]


def normalise_municipality_code(raw: object) -> str:
    """Return the 6-digit code for a 5- or 6-digit input, or raise ValueError saying why.

    Full-width digits are accepted because codes are often pasted from Japanese spreadsheets.
    """
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValueError(f"municipality code must be a string of digits, got {raw!r}")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"municipality code '{raw}' must contain digits only")
    if len(text) == 5:
        return text + check_digit(text)
    if len(text) == 6:
        expected = check_digit(text[:5])
        if text[5] != expected:
            raise ValueError(
                f"municipality code '{raw}' has check digit {text[5]} but {expected} was expected "
                f"(did you mean {text[:5]}{expected}?)"
            )
        return text
    raise ValueError(
        f"municipality code '{raw}' has {len(text)} digits; use the 6-digit "
        "全国地方公共団体コード (e.g. 121002 for 千葉市) or its first 5 digits"
    )


def map_jma_city_code(
    jma_code: str,
    known_codes: Iterable[str],
    ward_to_city: Mapping[str, str],
) -> str | None:
    """Map a JMA 7-digit city code to one of our 6-digit codes, or None if it is not ours.

    `ward_to_city` maps a ward's 5-digit code to its city's 5-digit code (12101 → 12100).
    A direct prefix match wins, so a deployment that registers wards as municipalities of
    their own keeps them apart.
    """
    if len(jma_code) != 7 or not jma_code.isascii() or not jma_code.isdigit():
        return None
    by_prefix = {code[:5]: code for code in known_codes}
    prefix = jma_code[:5]
    if prefix in by_prefix:
        return by_prefix[prefix]
    city = ward_to_city.get(prefix)
    if city is not None:
        return by_prefix.get(city)
    return None
