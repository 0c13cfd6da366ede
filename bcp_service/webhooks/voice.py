"""Twilio's voice webhooks: the call's TwiML, keypad answers, call statuses, the fallback and calls back.

Every request must carry a valid ``X-Twilio-Signature``. Keypad answers and call statuses are written
as SMS receipts are (webhooks/routes.py ``_commit_or_keep``): through a group commit, answered once
committed or, when the database is slow or away, once journaled (webhooks/journal.py), within
``webhook_commit_wait_seconds`` whatever the database does; Twilio gives up after 15 s and does not
post a keypad answer again. Every call we place sets a ``FallbackUrl`` (``/fallback/{token}``): when
our answer to Twilio fails anyway, the fallback speaks Japanese and keeps the press it was given,
without reading the database. A call back to the 050 number (``/incoming``, the number's voice URL at
Twilio) hears the caller's open check's menu, matched by the caller's number; a stranger hears the
hub's number (``BCP_HUB_PHONE``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import phonenumbers
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from bcp_service import webhook_doors
from bcp_service.answers.links import find_link
from bcp_service.auth.deps import Access
from bcp_service.db import SessionDep
from bcp_service.escalation.voice import (
    CALL_STATUS,
    KeypadPress,
    kept_twiml,
    menu_twiml,
    oncall_page_twiml,
    outcome_twiml,
    stranger_twiml,
    unavailable_twiml,
)
from bcp_service.group_commit import GroupCommit, writer
from bcp_service.outbox.calls import VOICE_PATH
from bcp_service.outbox.lookup import outbox_id_of
from bcp_service.rounds import counters
from bcp_service.webhooks.journal import JournalUnwritable, journal_for
from bcp_service.webhooks.keypad import apply_presses, caller_target
from bcp_service.webhooks.routes import KEPT, REFUSED, _commit_or_keep, _statuses, refused_response
from bcp_service.webhooks.signature import verified_params

log = logging.getLogger("bcp_service.webhooks")
router = APIRouter(prefix=VOICE_PATH, tags=["webhooks"], include_in_schema=False)
SIGNED = Access(public="Twilio voice webhook: authenticated by X-Twilio-Signature, checked in the handler")
INCOMING = "/incoming"


def _forbidden(hook: str) -> Response:
    log.warning("webhook.bad_signature", extra={"hook": hook})
    return Response("invalid signature", status_code=403, media_type="text/plain")


def _presses(request: Request) -> GroupCommit:
    return writer(request.app, "twilio-voice", apply_presses, around=counters.deferred)


async def _press(request: Request, press: KeypadPress, action: str) -> Response:
    settings = request.app.state.settings
    outcome = await _commit_or_keep(request, _presses(request), "voice", press)
    if outcome is REFUSED:  # Twilio then asks the call's FallbackUrl, which tries the journal again
        return refused_response()
    if outcome is KEPT:
        return kept_twiml(settings)
    return outcome_twiml(settings, outcome, action)


def _call_sid(params: dict) -> str:
    return (params.get("CallSid") or "")[:64]


def _call_twiml(session: Session, token: str, action: str, settings) -> Response:
    link = find_link(session=session, token=token)
    if link is None:  # oncall (issue 25.4): a page call to a station's or hub's on-call landline
        paged = oncall_page_twiml(session, token, settings)
        if paged is not None:
            return paged
    return menu_twiml(settings, action, link)


@router.post("/call/{token}", dependencies=[Depends(SIGNED)])
async def voice_call(token: str, request: Request, session: SessionDep):
    """TwiML for the call: the question in Japanese, and a one-digit keypad Gather."""
    settings = request.app.state.settings
    if await verified_params(request, settings) is None:
        return _forbidden("voice_call")
    action = f"{settings.webhook_base}{VOICE_PATH}/call/{token}/answer"
    return await run_in_threadpool(_call_twiml, session, token, action, settings)


async def _token_press(token: str, request: Request, step: str) -> Response:
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        return _forbidden(f"voice_{step}")
    press = KeypadPress(_call_sid(params), (params.get("Digits") or "")[:8], step, token=token[:64])
    return await _press(request, press, f"{settings.webhook_base}{VOICE_PATH}/call/{token}/answer")


@router.post("/call/{token}/answer", dependencies=[Depends(SIGNED)])
async def voice_answer(token: str, request: Request):
    """The Gather's action: record the pressed digit as the check's answer."""
    return await _token_press(token, request, "answer")


@router.post("/call/{token}/hours", dependencies=[Depends(SIGNED)])
async def voice_hours(token: str, request: Request):
    """The second Gather's action: hours of battery or oxygen left (# alone: unknown)."""
    return await _token_press(token, request, "hours")


@router.post("/fallback/{token}", dependencies=[Depends(SIGNED)])
async def voice_fallback(token: str, request: Request):
    """The call's FallbackUrl: our answer to Twilio failed (an error, or no answer within 15 s).

    No database read: a press Twilio hands over (``Digits``, the failed URL in ``ErrorUrl``) is
    journaled for the replay; otherwise (the call's first TwiML failed: the database is away) the
    caller hears, in Japanese, that someone will call back, and the unanswered check escalates.
    """
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        return _forbidden("voice_fallback")
    failed = urlsplit(params.get("ErrorUrl") or "").path
    log.warning(
        "webhook.voice_fallback", extra={"error_code": params.get("ErrorCode"), "had_digits": "Digits" in params}
    )
    if "Digits" in params and _call_sid(params):
        step = "hours" if failed.endswith("/hours") else "answer"
        press = KeypadPress(_call_sid(params), (params.get("Digits") or "")[:8], step, token=token[:64])
        try:
            await run_in_threadpool(journal_for(request.app).append, "voice", press)
        except JournalUnwritable:  # nothing can keep the press: the caller is told someone will call back
            webhook_doors.refused()
            return unavailable_twiml(settings)
        return kept_twiml(settings)
    return unavailable_twiml(settings)


@router.post("/status", dependencies=[Depends(SIGNED)])
async def voice_status(request: Request):
    """Call status callbacks, kept on the call's outbox row like an SMS delivery status (same writer)."""
    params = await verified_params(request, request.app.state.settings)
    if params is None:
        return _forbidden("voice_status")
    call_sid, status = params.get("CallSid"), params.get("CallStatus", "")
    if not call_sid:
        return Response(status_code=400)
    mapped = CALL_STATUS.get(status)
    if mapped is None:
        return Response(status_code=204)
    item = (call_sid[:64], mapped, params.get("ErrorCode"), outbox_id_of(request.query_params.get("outbox")))
    result = await _commit_or_keep(request, _statuses(request), "status", item)
    if result is REFUSED:
        return refused_response()
    if result is not KEPT:
        log.info("webhook.voice_status", extra={"call_sid": call_sid, "status": status, "result": result})
    return Response(status_code=204)


def _caller(params: dict) -> str | None:
    try:
        number = phonenumbers.parse(params.get("From") or "", None)
    except phonenumbers.NumberParseException:
        return None  # "anonymous", a withheld number: a stranger
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _incoming_twiml(session: Session, caller: str | None, settings) -> Response:
    target = caller_target(session, caller) if caller else None
    if target is None or target.expired:
        return stranger_twiml(settings)
    return menu_twiml(settings, f"{settings.webhook_base}{VOICE_PATH}{INCOMING}/answer", target)


@router.post(INCOMING, dependencies=[Depends(SIGNED)])
async def voice_incoming(request: Request, session: SessionDep):
    """A call to the 050 number: the caller's open check's menu, or the hub's number for a stranger."""
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        return _forbidden("voice_incoming")
    caller = _caller(params)
    log.info("webhook.voice_incoming", extra={"call_sid": _call_sid(params)})
    return await run_in_threadpool(_incoming_twiml, session, caller, settings)


@router.post(INCOMING + "/{step}", dependencies=[Depends(SIGNED)])
async def voice_incoming_press(step: str, request: Request):
    """The called-back menu's Gather actions (``answer``, ``hours``), matched by the caller's number again."""
    settings = request.app.state.settings
    params = await verified_params(request, settings)
    if params is None:
        return _forbidden("voice_incoming_press")
    caller = _caller(params)
    if step not in ("answer", "hours") or caller is None:
        return stranger_twiml(settings)
    press = KeypadPress(_call_sid(params), (params.get("Digits") or "")[:8], step, caller=caller)
    return await _press(request, press, f"{settings.webhook_base}{VOICE_PATH}{INCOMING}/answer")
