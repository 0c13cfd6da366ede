"""Status callback URLs that name their outbox row (``?outbox=<id>``), so a send whose answer was lost
is still matched to its row when the provider reports on it (outbox/lookup.py reads it back), and that
ask Twilio to retry (``#rc=..&rp=..&tt=..``: Twilio's webhook connection overrides, issue 28.3).

Twilio retries a webhook that fails to connect once by default and never one answered 5xx. Our webhooks
answer 5xx only when neither the database nor the journal could keep what they carry (webhooks/routes.py),
so the fragment asks Twilio to try those again. The fragment is never sent to the server: Twilio strips
it, so it is no part of the signed URL either (webhooks/signature.py rebuilds the URL without it).
"""

from __future__ import annotations

from bcp_service.config import Settings


def with_outbox_id(url: str | None, message_id: int) -> str | None:
    """The status callback URL naming its outbox row, so a send whose answer was lost is still matched."""
    if not url:
        return url
    base, hash_, fragment = url.partition("#")  # the query goes before the connection overrides
    return f"{base}{'&' if '?' in base else '?'}outbox={message_id}{hash_}{fragment}"


def connection_overrides(settings: Settings) -> str:
    """The fragment (``#rc=3&rp=5xx,ct,rt&tt=15000``) of the settings; empty when retries are off."""
    if not settings.webhook_retry_count:
        return ""
    return f"#rc={settings.webhook_retry_count}&rp={settings.webhook_retry_policy}&tt={settings.webhook_retry_total_ms}"


def with_retry(url: str | None, settings: Settings) -> str | None:
    """A callback URL with the settings' connection overrides (replacing any it had)."""
    if not url:
        return url
    return url.partition("#")[0] + connection_overrides(settings)
