"""Voice calls: the TwiML the call plays, the keypad answer, and the call's status.

The call's URL carries the answer token of its outbox row (``/webhooks/twilio/voice/call/{token}``),
as an SMS carries it in its link; only the token's hash is stored. Every request must carry a
valid ``X-Twilio-Signature`` (the SMS webhooks' validator). The TwiML comes from
``templates/voice/`` in the Japanese voice ``BCP_VOICE_NAME``, names the sender first and asks
again when no digit is pressed. Keypad: 1 safe, 2 needs help,
3 power out, 4 needs transport; the answer is recorded like any other (channel ``voice``),
once per call (idempotency key ``voice:{CallSid}``).
"""

from __future__ import annotations

import logging
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from bcp_service.answers.links import find_link
from bcp_service.answers.service import record_answer
from bcp_service.auth.deps import Access
from bcp_service.db import SessionDep
from bcp_service.escalation.calls import VOICE_PATH
from bcp_service.models import PatientContact
from bcp_service.models.rounds import AnswerChannel
from bcp_service.outbox.delivery import apply_status
from bcp_service.rounds.locking import write_unit
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import render
from bcp_service.webhooks.signature import verified_params

log = logging.getLogger("bcp_service.escalation")
router = APIRouter(prefix="/webhooks/twilio/voice", tags=["webhooks"], include_in_schema=False)
SIGNED = Access(public="Twilio voice webhook: authenticated by X-Twilio-Signature, checked in the handler")
DIGITS = {"1": "safe", "2": "needs_help", "3": "power_out", "4": "needs_transport"}
RETRY = "1から4の番号を押してください。"
ASKS = 2  # the menu is asked again once when no digit is pressed
GATHER_TIMEOUT_SECONDS = 10
# Call outcomes as outbox delivery states: the delivery ladder keeps a late status from undoing a later one.
CALL_STATUS = {"queued": "queued", "initiated": "sent", "ringing": "sent", "in-progress": "sent",
               "completed": "delivered", "busy": "undelivered", "no-answer": "undelivered",
               "failed": "failed", "canceled": "failed"}


def _twiml(template: str, settings, **context) -> Response:
    """TwiML from ``templates/voice/``, spoken by the configured Japanese voice (BCP_VOICE_NAME)."""
    body = render(f"voice/{template}.xml", voice=settings.voice_name, sender=settings.sender_name, **context)
    return Response(body.strip(), media_type="application/xml")


def _menu(settings, action: str, drill: bool, retry: str | None = None) -> Response:
    return _twiml("check_call", settings, action=action, drill=drill, retry=retry, asks=ASKS,
                  timeout=GATHER_TIMEOUT_SECONDS)


def _forbidden() -> Response:
    return Response("invalid signature", status_code=403, media_type="text/plain")


def _call_twiml(session: Session, token: str, action: str, settings) -> Response:
    target = find_link(session=session, token=token)
    if target is None or target.channel != "voice":
        return _twiml("check_closed", settings, drill=False)
    if target.expired:
        return _twiml("check_closed", settings, drill=target.drill)
    return _menu(settings, action, target.drill)


def _record_keypad(session: Session, token: str, call_sid: str, digits: str, action: str, settings) -> Response:
    # Locks (SQLite), records and commits on this pool thread: see rounds.locking.write_unit.
    with write_unit(session):
        target = find_link(session=session, token=token)
        if target is None or target.channel != "voice" or not call_sid:
            return _twiml("check_closed", settings, drill=False)
        drill = target.drill
        if target.expired:
            return _twiml("check_closed", settings, drill=drill)
        state = DIGITS.get(digits.strip()[:1])
        if state is None:
            return _menu(settings, action, drill, retry=RETRY)
        contact_id = target.contact_id
        contact = session.get(PatientContact, contact_id) if contact_id else None
        answer, created = record_answer(
            session=session, check_id=target.check_id, state=state, channel=AnswerChannel.voice,
            answered_by=contact.kind if contact else None, contact_id=contact_id,
            idempotency_key=f"voice:{call_sid}",
        )
        check_id, recorded = target.check_id, answer.state
    log.info("webhook.voice_answer", extra={"check_id": check_id, "call_sid": call_sid, "recorded": created,
                                            "state": recorded})
    return _twiml("check_answered", settings, drill=drill, label=STATE_LABELS[recorded], safe=recorded == "safe")


def _apply_call_status(session: Session, call_sid: str, status: str, error_code: str | None) -> str:
    with write_unit(session):
        return apply_status(session, provider_id=call_sid, status=status, error_code=error_code)


@router.post("/call/{token}", dependencies=[Depends(SIGNED)])
async def voice_call(token: str, request: Request, session: SessionDep):
    """TwiML for the call: the question in Japanese, and a one-digit keypad Gather."""
    settings = request.app.state.settings
    if await verified_params(request, settings) is None:
        log.warning("webhook.bad_signature", extra={"hook": "voice_call"})
        return _forbidden()
    action = f"{settings.webhook_base}{VOICE_PATH}/call/{token}/answer"
    return await run_in_threadpool(_call_twiml, session, token, action, settings)


@router.post("/call/{token}/answer", dependencies=[Depends(SIGNED)])
async def voice_answer(token: str, request: Request, session: SessionDep):
    """The Gather's action: record the pressed digit as the check's answer."""
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        log.warning("webhook.bad_signature", extra={"hook": "voice_answer"})
        return _forbidden()
    action = f"{settings.webhook_base}{VOICE_PATH}/call/{token}/answer"
    return await run_in_threadpool(_record_keypad, session, token, (params.get("CallSid") or "")[:64],
                                   params.get("Digits") or "", action, settings)


@router.post("/status", dependencies=[Depends(SIGNED)])
async def voice_status(request: Request, session: SessionDep):
    """Call status callbacks, kept on the call's outbox row like an SMS delivery status."""
    params = await verified_params(request, request.app.state.settings)
    if params is None:
        log.warning("webhook.bad_signature", extra={"hook": "voice_status"})
        return _forbidden()
    call_sid, status = params.get("CallSid"), params.get("CallStatus", "")
    if not call_sid:
        return Response(status_code=400)
    mapped = CALL_STATUS.get(status)
    if mapped is None:
        return Response(status_code=204)
    result = await run_in_threadpool(_apply_call_status, session, call_sid[:64], mapped, params.get("ErrorCode"))
    log.info("webhook.voice_status", extra={"call_sid": call_sid, "status": status, "result": result})
    return Response(status_code=204)
