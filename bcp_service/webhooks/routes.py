"""Twilio webhooks. A missing or wrong signature answers 403 before anything is read or written."""

from __future__ import annotations

import asyncio
import logging
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Request, Response

from bcp_service.auth.deps import Access
from bcp_service.group_commit import GroupCommit, writer
from bcp_service.outage import is_outage
from bcp_service.outbox.delivery import apply_statuses
from bcp_service.rounds import counters
from bcp_service.rounds.messages import STATE_LABELS, render_text
from bcp_service.webhooks.inbound import InboundSms, handle_replies
from bcp_service.webhooks.journal import journal_for
from bcp_service.webhooks.signature import verified_params

log = logging.getLogger("bcp_service.webhooks")
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=False)
SIGNED = Access(public="Twilio webhook: authenticated by X-Twilio-Signature, checked in the handler")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _forbidden() -> Response:
    return Response("invalid signature", status_code=403, media_type="text/plain")


def _twiml(message: str | None) -> Response:
    if not message:
        return Response(EMPTY_TWIML, media_type="application/xml")
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'
    return Response(body, media_type="application/xml")


# The writes go through a group commit (bcp_service.group_commit): one writer thread per process
# applies every receipt (or reply) waiting in one transaction; the answer to Twilio waits for it.
def _statuses(request: Request) -> GroupCommit:
    return writer(request.app, "twilio-status", apply_statuses, around=counters.deferred)


def _replies(request: Request) -> GroupCommit:
    return writer(request.app, "twilio-inbound", handle_replies, around=counters.deferred)


async def _keep(request: Request, kind: str, item) -> None:
    """Journal a webhook the database could not take (bcp_service.webhooks.journal)."""
    await asyncio.to_thread(journal_for(request.app).append, kind, item)


async def _replay_if_due(request: Request) -> None:
    # The database just took a write: if webhooks were journaled during an outage, apply them now.
    journal = journal_for(request.app)
    if not journal.due():
        return
    try:
        await asyncio.to_thread(journal.replay, request.app.state.unit_of_work)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("webhook.journal_replay_failed", extra={"error": type(exc).__name__})


@router.post("/status", dependencies=[Depends(SIGNED)])
async def twilio_status(request: Request):
    params = await verified_params(request, request.app.state.settings)
    if params is None:
        log.warning("webhook.bad_signature", extra={"hook": "status"})
        return _forbidden()
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not provider_id:
        return Response(status_code=400)
    item = (provider_id[:64], status, params.get("ErrorCode"))
    try:
        result = await _statuses(request).submit(item)
    except Exception as exc:
        if not is_outage(exc):
            raise
        await _keep(request, "status", item)  # Twilio would not send it again: it is ours to keep
        return Response(status_code=204)
    await _replay_if_due(request)
    log.info("webhook.status", extra={"provider_id": provider_id, "status": status, "result": result})
    return Response(status_code=204)


@router.post("/inbound", dependencies=[Depends(SIGNED)])
async def twilio_inbound(request: Request):
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        log.warning("webhook.bad_signature", extra={"hook": "inbound"})
        return _forbidden()
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    sender = params.get("From")
    if not provider_id or not sender:
        return Response(status_code=400)
    reply = InboundSms(provider_id[:64], sender, params.get("To"), params.get("Body", ""))
    try:
        result = await _replies(request).submit(reply)
    except Exception as exc:
        if not is_outage(exc):
            raise
        await _keep(request, "inbound", reply)
        return _twiml(None)  # recorded later: no acknowledgement text we could stand behind now
    await _replay_if_due(request)
    log.info("webhook.inbound", extra={"provider_id": provider_id, "result": result.kind})
    # A stranger's text gets no answer: it costs a message and tells them nothing useful.
    if not settings.sms_reply_ack or result.kind == "duplicate" or result.reason == "no_open_check":
        return _twiml(None)
    if result.kind == "answered":
        hours = None if result.hours is None else f"{result.hours:g}"
        return _twiml(render_text("reply_ack", drill=result.drill, state_label=STATE_LABELS[result.state], hours=hours,
                                 hours_unknown=result.hours_unknown, sender=settings.sender_name))
    return _twiml(render_text("reply_unreadable", drill=result.drill, sender=settings.sender_name))
