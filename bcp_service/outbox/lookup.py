"""No second message after a lost answer: look at the provider before sending a message again.

A create that timed out (or met a 5xx, or whose worker died mid-send) may have reached the provider:
Twilio may have taken it and only its answer was lost. Sending again could mean a second SMS or a
second call. So before a message whose earlier try may have gone out is sent again (``attempts`` > 1:
the claim counts the try under way, 429 refusals are taken back), the provider is asked for a send to
the same number since the message was queued (``notifiers``' ``find_sent``: an SMS with the same text,
which holds the message's own answer token; a call from our caller ID), and the message is recorded as
sent with that id instead. A lookup that fails is a transient error like the send's: retried later,
never a blind resend. Each status callback URL also carries the outbox id (``?outbox=``): a status
for a send whose answer was lost names its row, and a row waiting to be sent again (``queued``, no
provider id, an earlier try) adopts that send (``apply_statuses_naming_rows``), so it is not claimed
again at all.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from bcp_service.channels.callbacks import with_outbox_id  # noqa: F401 (re-exported)
from bcp_service.clock import aware
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.outbox.claims import Claimed
from bcp_service.outbox.delivery import apply_statuses
from notifiers import SendResult

log = logging.getLogger("bcp_service.outbox")
# The provider's clock and ours may differ a little; a send before the row existed cannot be it anyway.
CLOCK_MARGIN = timedelta(minutes=2)


async def send_once(notifier, message: Claimed, payload: str, request: Coroutine[Any, Any, SendResult]) -> SendResult:
    """``request`` (a send not yet awaited), unless an earlier try of this message is found at the provider."""
    find = getattr(notifier, "find_sent", None)
    if (
        message.attempts <= 1
        or find is None
        or not getattr(notifier, "supports_lookup", True)
        or message.created_at is None
    ):
        return await request
    try:
        found = await find(
            to=message.to_number,
            since=aware(message.created_at) - CLOCK_MARGIN,
            body=None if message.channel == "voice" else payload,
            call=message.channel == "voice",
        )
    except BaseException:
        request.close()  # never awaited: nothing was sent this time
        raise
    if found is None:
        return await request
    request.close()
    log.warning(
        "outbox.found_sent_after_lost_answer", extra={"message_id": message.id, "provider_id": found.provider_id}
    )
    return found


def outbox_id_of(value: str | None) -> int | None:
    """The ``outbox`` query parameter of a status callback, when it is a row id."""
    return int(value) if value and value.isdigit() and len(value) <= 12 else None


def apply_statuses_naming_rows(session: Session, items: list[tuple]) -> list[str]:
    """Status callbacks, each (provider id, status, error code[, outbox id]), as ``apply_statuses``
    applies them, after the rows they name adopted the sends their lost answers did not tell us."""
    adopt_lost_sends(session, [(item[3], item[0]) for item in items if len(item) > 3 and item[3]])
    return apply_statuses(session, [(item[0], item[1], item[2]) for item in items])


def adopt_lost_sends(session: Session, pairs: list[tuple[int, str]]) -> int:
    """(outbox id, provider id): a row waiting to be sent again after a try whose answer was lost
    takes that try's provider id and is sent; any other row is left alone (a worker holds it and its
    own lookup decides, or it is recorded already)."""
    if not pairs:
        return 0
    table = OutboxMessage.__table__
    c = table.c
    now = utcnow()
    result = session.execute(
        update(table)
        .where(c.id == bindparam("b_id"), c.state == "queued", c.provider_message_id.is_(None), c.attempts > 0)
        .values(
            state="sent",
            provider_message_id=bindparam("b_provider"),
            sent_at=now,
            status_at=now,
            answer_token=None,
            claimed_by=None,
        ),
        [{"b_id": outbox_id, "b_provider": provider_id[:64]} for outbox_id, provider_id in pairs],
    )
    adopted = max(result.rowcount or 0, 0)
    if adopted:
        log.warning("outbox.adopted_lost_send", extra={"count": adopted})
    return adopted
