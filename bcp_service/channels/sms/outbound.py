"""Sending one SMS: its text is rendered at send time (the plain answer token lives only until it leaves).

The text comes from the message templates (``rounds/messages.py`` ``render_message``), which the worker
hands in as ``render_text``: the channel folder sits below the domains and must not import them.
"""

from __future__ import annotations

import logging

from bcp_service.channels.callbacks import with_outbox_id
from bcp_service.sms import count_segments

log = logging.getLogger("bcp_service.outbox")


def render(message, settings, render_text) -> tuple[str | None, str | None]:
    if message.body:
        return message.body, None
    try:
        return render_text(
            message.template or "",
            drill=message.drill,
            public_base_url=settings.public_base_url,
            token=message.answer_token,
            sender=settings.sender_name,
            replies=settings.sms_replies,
            round_id=message.round_id,
        ), None
    except Exception:  # a broken template must fail the message, not the worker
        log.exception("outbox.render_failed", extra={"message_id": message.id})
        return None, "render"


def send(notifier, message, body: str, settings, callback: str | None, expires_in: float | None):
    """The send request (a coroutine): the callback names the row; ValidityPeriod is what is left of the
    message's validity, so a retry never outlives it."""
    return notifier.send_sms(
        to=message.to_number,
        body=body,
        status_callback=with_outbox_id(callback, message.id),
        validity_period=None if expires_in is None else max(1, int(expires_in)),
    )


def cost(body: str | None) -> int:
    return count_segments(body)[0] if body else 1
