"""SMS segment counting as carriers bill it (GSM-7 or UCS-2)."""

from __future__ import annotations

import math

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension characters cost two septets (escape + char).
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def count_segments(text: str) -> tuple[int, str]:
    """Return (segments, encoding) where encoding is "GSM-7" or "UCS-2"."""
    if is_gsm7(text):
        septets = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        if septets <= 160:
            return 1, "GSM-7"
        return math.ceil(septets / 153), "GSM-7"
    # UCS-2 is counted in UTF-16 code units: an emoji outside the BMP takes two.
    units = len(text.encode("utf-16-le")) // 2
    if units <= 70:
        return 1, "UCS-2"
    return math.ceil(units / 67), "UCS-2"
