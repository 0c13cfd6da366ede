"""Placing one call: the provider fetches its TwiML from the URL carrying the row's answer token."""

from __future__ import annotations

from bcp_service.channels.voice.urls import call_status_url, twiml_url


def render(message, settings, render_text=None) -> tuple[str | None, str | None]:
    if not message.answer_token:
        return None, "token"
    return twiml_url(settings, message.answer_token), None


async def send(notifier, message, body: str, settings, callback: str | None):
    return await notifier.place_call(to=message.to_number, twiml_url=body, status_callback=call_status_url(settings))


def cost(body: str | None) -> int:
    return 1
