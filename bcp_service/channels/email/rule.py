"""Who e-mail reaches: an address of the usual shape (``local@domain.tld``), kept as entered but with its
domain in lower case. Deliverability is the mail server's to say: a refused recipient marks the address
(``outbound.py``), never the contact's phone."""

from __future__ import annotations

import re

# Deliberately plain (RFC 5321 allows far more, Japanese carriers' old addresses included dots in odd places):
# one @, no spaces or angle brackets, a dotted domain.
SHAPE = re.compile(
    r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
MAX_LENGTH = 254
MESSAGE_INVALID = "メールアドレスの形が正しくありません（例: taro@example.jp）(invalid e-mail address)"


def can_mail(address: str) -> bool:
    return bool(address) and len(address) <= MAX_LENGTH and SHAPE.match(address) is not None


def normalise_email(value: str) -> str:
    """The address as stored (the domain in lower case), or ValueError with a message a person can act on."""
    text = (value or "").strip()
    if not text:
        raise ValueError("メールアドレスが空です (e-mail address is empty)")
    local, _, domain = text.rpartition("@")
    address = f"{local}@{domain.lower()}"
    if not can_mail(address):
        raise ValueError(MESSAGE_INVALID)
    return address
