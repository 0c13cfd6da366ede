"""Placing one call: the provider fetches its TwiML from the URL carrying the row's answer token."""

from __future__ import annotations

from bcp_service.channels.callbacks import with_outbox_id
from bcp_service.channels.voice.urls import call_status_url, fallback_url, twiml_url


def render(message, settings, render_text=None) -> tuple[str | None, str | None]:
    if not message.answer_token:
        return None, "token"
    return twiml_url(settings, message.answer_token), None


def send(notifier, message, body: str, settings, callback: str | None, expires_in: float | None):
    """The call request (a coroutine): its status callback names the row; its FallbackUrl keeps a press
    when the service cannot answer (webhooks/voice.py)."""
    return notifier.place_call(
        to=message.to_number,
        twiml_url=body,
        status_callback=with_outbox_id(call_status_url(settings), message.id),
        fallback_url=fallback_url(settings, message.answer_token or ""),
    )


def cost(body: str | None) -> int:
    return 1
