"""Who a call reaches: every valid number (mobiles, landlines, 050 IP phones) takes a call."""

from __future__ import annotations


def can_call(e164: str) -> bool:
    return bool(e164)
