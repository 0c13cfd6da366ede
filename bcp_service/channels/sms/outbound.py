"""Sending one SMS: its text is rendered at send time (the plain answer token lives only until it leaves).

The text comes from the message templates (``rounds/messages.py`` ``render_message``), which the worker
hands in as ``render_text``: the channel folder sits below the domains and must not import them.
"""

from __future__ import annotations

import logging

from bcp_service.sms import count_segments

log = logging.getLogger("bcp_service.outbox")


def render(message, settings, render_text) -> tuple[str | None, str | None]:
    if message.body:
        return message.body, None
    try:
        return render_text(message.template or "", drill=message.drill, public_base_url=settings.public_base_url,
                              token=message.answer_token, sender=settings.sender_name,
                              replies=settings.sms_replies), None
    except Exception:  # a broken template must fail the message, not the worker
        log.exception("outbox.render_failed", extra={"message_id": message.id})
        return None, "render"


async def send(notifier, message, body: str, settings, callback: str | None):
    return await notifier.send_sms(to=message.to_number, body=body, status_callback=callback)


def cost(body: str | None) -> int:
    return count_segments(body)[0] if body else 1
