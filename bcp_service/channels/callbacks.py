"""Status callback URLs that name their outbox row (``?outbox=<id>``), so a send whose answer was lost
is still matched to its row when the provider reports on it (outbox/lookup.py reads it back)."""

from __future__ import annotations


def with_outbox_id(url: str | None, message_id: int) -> str | None:
    """The status callback URL naming its outbox row, so a send whose answer was lost is still matched."""
    if not url:
        return url
    return f"{url}{'&' if '?' in url else '?'}outbox={message_id}"
