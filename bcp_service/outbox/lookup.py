"""No second message after a lost answer: look at the provider before sending a message again.

A create that timed out (or met a 5xx, or whose worker died mid-send) may have reached the provider:
Twilio may have taken it and only its answer was lost. Sending again could mean a second SMS or a
second call. So before a message whose earlier try may have gone out is sent again (``attempts`` > 1:
the claim counts the try under way, 429 refusals are taken back), the provider is asked for a send to
the same number since the message was queued (``notifiers``' ``find_sent``: an SMS with the same text,
which holds the message's own answer token; a call from our caller ID), and the message is recorded as
sent with that id instead. A lookup that fails is a transient error like the send's: retried later,
never a blind resend. Each status callback URL also carries the outbox id (``?outbox=``), so the
statuses of a send whose answer was lost name their row (webhooks/routes.py).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from bcp_service.clock import aware
from bcp_service.outbox.claims import Claimed
from notifiers import SendResult

log = logging.getLogger("bcp_service.outbox")
# The provider's clock and ours may differ a little; a send before the row existed cannot be it anyway.
CLOCK_MARGIN = timedelta(minutes=2)


async def send_once(notifier, message: Claimed, payload: str, request: Coroutine[Any, Any, SendResult]) -> SendResult:
    """``request`` (a send not yet awaited), unless an earlier try of this message is found at the provider."""
    find = getattr(notifier, "find_sent", None)
    if message.attempts <= 1 or find is None or not getattr(notifier, "supports_lookup", True) \
            or message.created_at is None:
        return await request
    try:
        found = await find(to=message.to_number, since=aware(message.created_at) - CLOCK_MARGIN,
                           body=None if message.channel == "voice" else payload, call=message.channel == "voice")
    except BaseException:
        request.close()  # never awaited: nothing was sent this time
        raise
    if found is None:
        return await request
    request.close()
    log.warning("outbox.found_sent_after_lost_answer", extra={"message_id": message.id,
                                                               "provider_id": found.provider_id})
    return found


def with_outbox_id(url: str | None, message_id: int) -> str | None:
    """The status callback URL naming its outbox row, so a send whose answer was lost is still matched."""
    if not url:
        return url
    return f"{url}{'&' if '?' in url else '?'}outbox={message_id}"
