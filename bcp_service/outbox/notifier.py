"""The notifier the settings ask for, wrapped so every provider call is timed and logged."""

from __future__ import annotations

from bcp_service.channels.callbacks import with_retry
from bcp_service.config import Settings
from notifiers import TimedNotifier, get_notifier


def build_notifier(settings: Settings) -> TimedNotifier:
    if settings.notifier == "twilio":
        inner = get_notifier(
            "twilio",
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.senders.sms_from,
            messaging_service_sid=settings.senders.messaging_service_sid,
            caller_id=settings.senders.caller_id,
            base_url=settings.twilio_base_url,
            timeout=settings.send_timeout_seconds,
            max_connections=max(settings.send_concurrency, 10),
            validity_period=settings.send_validity_seconds,
        )
    else:
        inner = get_notifier(settings.notifier)
    return TimedNotifier(inner)


def status_callback_url(settings: Settings) -> str | None:
    if settings.notifier != "twilio" or not settings.twilio_status_callbacks:
        return None
    return with_retry(f"{settings.webhook_base}/webhooks/twilio/status", settings)
