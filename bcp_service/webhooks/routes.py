"""Twilio webhooks. A missing or wrong signature answers 403 before anything is read or written."""

from __future__ import annotations

import asyncio
import logging
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Request, Response

from bcp_service import webhook_doors
from bcp_service.auth.deps import Access
from bcp_service.db_outage import is_outage
from bcp_service.group_commit import GroupCommit, writer
from bcp_service.outbox.lookup import apply_statuses_naming_rows, outbox_id_of
from bcp_service.ratelog import RepeatLog
from bcp_service.rounds import counters
from bcp_service.rounds.messages import STATE_LABELS, render_text
from bcp_service.webhooks.inbound import InboundSms, handle_replies
from bcp_service.webhooks.journal import JournalUnwritable, journal_for
from bcp_service.webhooks.signature import verified_params

log = logging.getLogger("bcp_service.webhooks")
quiet = RepeatLog(log)  # issue 28.4: an outage logs one line per interval, with the count
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
# applies every receipt (or reply) waiting in one transaction; the answer to Twilio waits for it, for
# at most ``webhook_commit_wait_seconds``, then for the journal instead (bcp_service.webhooks.journal).
def _statuses(request: Request) -> GroupCommit:
    return writer(request.app, "twilio-status", apply_statuses_naming_rows, around=counters.deferred)


def _replies(request: Request) -> GroupCommit:
    return writer(request.app, "twilio-inbound", handle_replies, around=counters.deferred)


KEPT = object()  # what ``_commit_or_keep`` returns for a write journaled instead of committed
REFUSED = object()  # ... and for one neither the database nor the journal could take: answer 503


def refused_response() -> Response:
    """503 to a webhook nothing could keep: Twilio tries it again as its URL's overrides ask (``#rc=``/``#rp=``,
    channels/callbacks.py); nothing is acknowledged and then lost."""
    return Response("not kept: try again", status_code=503, media_type="text/plain", headers={"Retry-After": "1"})


async def _commit_or_keep(request: Request, group: GroupCommit, kind: str, item):
    """The write's result once committed; ``KEPT`` once journaled, when the database is away or the
    commit takes too long; ``REFUSED`` when the journal cannot take it either (issue 28.3).

    Twilio would not send a receipt or reply again, so one the database cannot take now is ours to
    keep. A long writer (another process's transaction, a checkpoint, a starved CPU) can also hold
    SQLite's write lock for longer than Twilio waits: in the SQLite soak receipts waited up to 12.6 s.
    Past the bound the item is made durable in the journal and answered; its write stays queued and
    still commits.
    """
    write = asyncio.ensure_future(group.submit(item))
    done, _ = await asyncio.wait({write}, timeout=request.app.state.settings.webhook_commit_wait_seconds)
    if write in done:
        try:
            result = write.result()
        except Exception as exc:
            if not is_outage(exc):
                raise
            return KEPT if await _keep(request, kind, item) else REFUSED
        _replay_if_due(request)
        return result
    write.add_done_callback(_late_write_done)  # still queued: it may commit (then a retry is a duplicate)
    if not await _keep(request, kind, item):
        return REFUSED
    quiet.warning("webhook.kept_before_commit", cause=kind, extra={"kind": kind})
    return KEPT


def _late_write_done(write: asyncio.Future) -> None:
    if not write.cancelled() and write.exception() is not None:  # the journal has it: the replay applies it
        error = type(write.exception()).__name__
        quiet.warning("webhook.late_write_failed", cause=error, extra={"error": error})


async def _keep(request: Request, kind: str, item) -> bool:
    """Journal a webhook the database could not take (bcp_service.webhooks.journal); False when no journal
    location could take it either (counted: the metric, /ops and the banners say so)."""
    try:
        await asyncio.to_thread(journal_for(request.app).append, kind, item)
    except JournalUnwritable:
        webhook_doors.refused()
        quiet.error("webhook.refused", cause=kind, extra={"kind": kind})
        return False
    return True


def _replay_if_due(request: Request) -> None:
    """The database just took a write: apply what was journaled, in the background (never in a
    webhook's own time: a replay waits for the write lock like any writer)."""
    app = request.app
    running = getattr(app.state, "journal_replay", None)
    if (running is not None and not running.done()) or not journal_for(app).due():
        return
    app.state.journal_replay = asyncio.ensure_future(asyncio.to_thread(journal_for(app).replay, app.state.unit_of_work))
    app.state.journal_replay.add_done_callback(_replay_done)


def _replay_done(replay: asyncio.Future) -> None:
    if replay.cancelled() or replay.exception() is None:
        return
    error = replay.exception()
    # An outage: the files stay for the next try. Anything else is a bug the log must show.
    (log.warning if is_outage(error) else log.error)(
        "webhook.journal_replay_failed", extra={"error": type(error).__name__}
    )


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
    # ?outbox=<id>: the row of a send whose create answer was lost (outbox/lookup.py)
    item = (provider_id[:64], status, params.get("ErrorCode"), outbox_id_of(request.query_params.get("outbox")))
    result = await _commit_or_keep(request, _statuses(request), "status", item)
    if result is REFUSED:
        return refused_response()
    if result is KEPT:
        return Response(status_code=204)
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
    result = await _commit_or_keep(request, _replies(request), "inbound", reply)
    if result is REFUSED:
        return refused_response()
    if result is KEPT:
        return _twiml(None)  # recorded later: no acknowledgement text we could stand behind now
    log.info("webhook.inbound", extra={"provider_id": provider_id, "result": result.kind})
    # A stranger's text gets no answer: it costs a message and tells them nothing useful.
    if not settings.sms_reply_ack or result.kind == "duplicate" or result.reason == "no_open_check":
        return _twiml(None)
    if result.kind == "answered":
        hours = None if result.hours is None else f"{result.hours:g}"
        return _twiml(
            render_text(
                "reply_ack",
                drill=result.drill,
                state_label=STATE_LABELS[result.state],
                hours=hours,
                hours_unknown=result.hours_unknown,
                sender=settings.sender_name,
            )
        )
    return _twiml(render_text("reply_unreadable", drill=result.drill, sender=settings.sender_name))
