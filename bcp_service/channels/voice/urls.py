"""The URLs of a voice call: where the provider fetches its TwiML and posts its statuses."""

from __future__ import annotations

from bcp_service.channels.callbacks import with_retry
from bcp_service.config import Settings

VOICE_PATH = "/webhooks/twilio/voice"


def twiml_url(settings: Settings, token: str) -> str:
    """Where the provider fetches the call's TwiML; the token is the voice outbox row's answer token."""
    return f"{settings.webhook_base}{VOICE_PATH}/call/{token}"


def call_status_url(settings: Settings) -> str | None:
    if settings.notifier != "twilio" or not settings.twilio_status_callbacks:
        return None
    return with_retry(f"{settings.webhook_base}{VOICE_PATH}/status", settings)


def fallback_url(settings: Settings, token: str) -> str:
    """The call's FallbackUrl (webhooks/voice.py): keeps a press, or apologises, without the database."""
    return f"{settings.webhook_base}{VOICE_PATH}/fallback/{token}"
