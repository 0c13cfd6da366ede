"""Answer-link tokens: random, at least 128 bits, stored only as their SHA-256 once the message has left.

``outbox_writer`` makes them with each outbox row (on PostgreSQL, large batches draw them in SQL:
23 characters instead of Python's 22); ``answers.links`` finds a message by the hash.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 16  # 128 bits
# Python's tokens are 22 characters; PostgreSQL's, drawn in SQL (outbox_writer), 23.
TOKEN_MAX_CHARS = 23


def new_answer_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
