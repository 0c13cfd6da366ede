"""Voice calls: the TwiML the call plays, the keypad answer, and the call's status.

The call's URL carries the answer token of its outbox row (``/webhooks/twilio/voice/call/{token}``),
as an SMS carries it in its link; only the token's hash is stored. Every request must carry a
valid ``X-Twilio-Signature`` (the SMS webhooks' validator). The TwiML comes from
``templates/voice/`` in the Japanese voice ``BCP_VOICE_NAME``, names the sender first and asks
again when no digit is pressed. Keypad: the digits of the one table of states (check_states:
1 safe ... 6 evacuated); the answer is recorded like any other (channel ``voice``), once per call
(idempotency key ``voice:{CallSid}``). After a state that needs help, a second ``<Gather>`` asks
for the hours of battery or oxygen left (digits then #; # alone: don't know), recorded as the same
answer updated (``voice:{CallSid}:hours``).

An advance-notice round (事前連絡) has its own call (``notice_call.xml``): what to prepare, then
where the person will stay on the keypad (``NOTICE_KEYS``: 1 home ... 4 hospital, 5 and 6 help
to prepare or to move), recorded as the answer page records it: a "safe" answer with the plan
written to the registry (``answers.links.record_plan``), or a call for help. It asks no hours.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from bcp_service import check_states as states
from bcp_service.answers.links import LinkTarget, find_link, record_plan
from bcp_service.answers.service import record_answer
from bcp_service.auth.deps import Access
from bcp_service.db import SessionDep
from bcp_service.labels import PLANNED_STAY_ANSWERS
from bcp_service.models import PatientContact, SafetyCheck
from bcp_service.models.rounds import AnswerChannel
from bcp_service.outbox.calls import VOICE_PATH
from bcp_service.outbox.delivery import apply_status
from bcp_service.rounds.locking import write_unit
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import render
from bcp_service.webhooks.signature import verified_params
from notifiers.twilio_codes import CALL_STATES

log = logging.getLogger("bcp_service.escalation")
router = APIRouter(prefix="/webhooks/twilio/voice", tags=["webhooks"], include_in_schema=False)
SIGNED = Access(public="Twilio voice webhook: authenticated by X-Twilio-Signature, checked in the handler")
DIGITS = states.DIGITS
MENU = states.keypad_prompt()
HOURS_PROMPT = ("人工呼吸器のバッテリーや酸素が、あと何時間もつか、数字を押して最後にシャープを押してください。"
                "わからない場合は、シャープだけを押してください。")
RETRY = f"1から{max(int(d) for d in DIGITS)}の番号を押してください。"
# The advance-notice keypad, the answer page's choices in its order: digit -> (state, planned stay, phrase).
NOTICE_KEYS = {
    "1": ("safe", "home", "自宅で過ごす場合は"),
    "2": ("safe", "shelter", "避難所に移る場合は"),
    "3": ("safe", "relative", "親戚や知人の家などに移る場合は"),
    "4": ("safe", "hospital", "入院や入所をする場合は"),
    "5": ("needs_help", None, "準備に手助けが必要な場合は"),
    "6": ("needs_transport", None, "移動や避難に手助けが必要な場合は"),
}
NOTICE_MENU = "、".join(f"{phrase}{digit}を" for digit, (_, _, phrase) in NOTICE_KEYS.items()) + "押してください。"
NOTICE_RETRY = f"1から{len(NOTICE_KEYS)}の番号を押してください。"
ASKS = 2  # the menu is asked again once when no digit is pressed
GATHER_TIMEOUT_SECONDS = 10
# Call outcomes as outbox delivery states (Twilio's words, mapped in notifiers/twilio_codes.py).
CALL_STATUS = CALL_STATES


def _twiml(template: str, settings, **context) -> Response:
    """TwiML from ``templates/voice/``, spoken by the configured Japanese voice (BCP_VOICE_NAME)."""
    body = render(f"voice/{template}.xml", voice=settings.voice_name, sender=settings.sender_name, **context)
    return Response(body.strip(), media_type="application/xml")


def _menu(settings, action: str, target: LinkTarget, retry: bool = False) -> Response:
    if _notice(target):
        return _twiml("notice_call", settings, action=action, drill=target.drill, retry=NOTICE_RETRY if retry else None,
                      asks=ASKS, timeout=GATHER_TIMEOUT_SECONDS, menu=NOTICE_MENU)
    return _twiml("check_call", settings, action=action, drill=target.drill, retry=RETRY if retry else None,
                  asks=ASKS, timeout=GATHER_TIMEOUT_SECONDS, menu=MENU)


def _notice(target: LinkTarget | None) -> bool:
    return target is not None and target.kind == "advance_notice"


def _closed(settings, target: LinkTarget | None) -> Response:
    return _twiml("check_closed", settings, drill=bool(target and target.drill),
                  subject="事前連絡" if _notice(target) else "安否確認")


def _forbidden() -> Response:
    return Response("invalid signature", status_code=403, media_type="text/plain")


def _call_twiml(session: Session, token: str, action: str, settings) -> Response:
    target = find_link(session=session, token=token)
    if target is None or target.channel != "voice":
        return _closed(settings, None)
    if target.expired:
        return _closed(settings, target)
    return _menu(settings, action, target)


def _record_keypad(session: Session, token: str, call_sid: str, digits: str, action: str, settings) -> Response:
    # Locks (SQLite), records and commits on this pool thread: see rounds.locking.write_unit.
    with write_unit(session):
        target = find_link(session=session, token=token)
        if target is None or target.channel != "voice" or not call_sid:
            return _closed(settings, None)
        drill = target.drill
        if target.expired:
            return _closed(settings, target)
        key = digits.strip()[:1]
        state, plan, _ = NOTICE_KEYS.get(key, (None, None, None)) if _notice(target) else (DIGITS.get(key), None, None)
        if state is None:
            return _menu(settings, action, target, retry=True)
        contact_id = target.contact_id
        contact = session.get(PatientContact, contact_id) if contact_id else None
        answer, created = record_answer(
            session=session, check_id=target.check_id, state=state, channel=AnswerChannel.voice,
            answered_by=contact.kind if contact else None, contact_id=contact_id,
            idempotency_key=f"voice:{call_sid}",
        )
        if created:
            record_plan(session, target, plan=plan, place=None)
        check_id, recorded = target.check_id, answer.state
    log.info("webhook.voice_answer", extra={"check_id": check_id, "call_sid": call_sid, "recorded": created,
                                            "state": recorded})
    label = PLANNED_STAY_ANSWERS[plan] if plan and recorded == state else STATE_LABELS[recorded]
    if _notice(target):
        # Help to prepare or to move: a person calls back; the hours of battery are not the question yet.
        return _twiml("check_answered", settings, drill=drill, label=label, safe=recorded in states.SAFE)
    if recorded in states.NEEDING:
        return _twiml("check_hours", settings, drill=drill, label=label, prompt=HOURS_PROMPT,
                      action=action.removesuffix("/answer") + "/hours", timeout=GATHER_TIMEOUT_SECONDS)
    return _twiml("check_answered", settings, drill=drill, label=label, safe=recorded in states.SAFE)


def _contact_kind(session: Session, contact_id: int | None) -> str | None:
    contact = session.get(PatientContact, contact_id) if contact_id else None
    return contact.kind if contact else None


def _record_hours(session: Session, token: str, call_sid: str, digits: str, settings) -> Response:
    """The second Gather: hours left, recorded as the call's answer updated (same state, with hours)."""
    with write_unit(session):
        target = find_link(session=session, token=token)
        if target is None or target.channel != "voice" or not call_sid or target.expired:
            return _closed(settings, target)
        check = session.get(SafetyCheck, target.check_id)
        value = digits.strip().rstrip("#")
        hours = float(value) if value.isdigit() and int(value) <= 720 else None
        record_answer(
            session=session, check_id=target.check_id, state=check.state, channel=AnswerChannel.voice,
            hours_left=hours, hours_unknown=hours is None, power="out" if check.state == "power_out" else check.power,
            answered_by=_contact_kind(session, target.contact_id), contact_id=target.contact_id,
            idempotency_key=f"voice:{call_sid}:hours",
        )
        drill = target.drill
    log.info("webhook.voice_hours", extra={"check_id": target.check_id, "call_sid": call_sid, "known": hours is not None})
    said = f"残り{hours:g}時間" if hours is not None else "残り時間は不明"
    return _twiml("check_answered", settings, drill=drill, label=said, safe=False)


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


@router.post("/call/{token}/hours", dependencies=[Depends(SIGNED)])
async def voice_hours(token: str, request: Request, session: SessionDep):
    """The second Gather's action: hours of battery or oxygen left (# alone: unknown)."""
    params = await verified_params(request, request.app.state.settings)
    if params is None:
        log.warning("webhook.bad_signature", extra={"hook": "voice_hours"})
        return _forbidden()
    return await run_in_threadpool(_record_hours, session, token, (params.get("CallSid") or "")[:64],
                                   params.get("Digits") or "", request.app.state.settings)


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
