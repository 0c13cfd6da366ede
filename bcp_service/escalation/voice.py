"""Voice calls: the TwiML a call plays and the keypad answers it records (the routes: webhooks/voice.py).

A call's URL carries the answer token of its outbox row (``/webhooks/twilio/voice/call/{token}``),
as an SMS carries it in its link; only the token's hash is stored. A call back to the 050 number is
matched by the caller's number instead (webhooks/voice.py). The TwiML comes from ``templates/voice/``
in the Japanese voice ``BCP_VOICE_NAME``, names the sender first and asks again when no digit is
pressed. Keypad: the digits of the one table of states (check_states: 1 safe ... 6 evacuated); the
answer is recorded like any other (channel ``voice``), once per call (idempotency key
``voice:{CallSid}``), so a press replayed from the webhook journal changes nothing. After a state that
needs help, a second ``<Gather>`` asks for the hours of battery or oxygen left (digits then #; # alone,
posted thanks to ``actionOnEmptyResult``: don't know), recorded as the same answer updated
(``voice:{CallSid}:hours``).

An advance-notice round (事前連絡) has its own call (``notice_call.xml``): what to prepare, then
where the person will stay on the keypad (``NOTICE_KEYS``: 1 home ... 4 hospital, 5 and 6 help
to prepare or to move), recorded as the answer page records it: a "safe" answer with the plan
written to the registry (``answers.links.record_plan``), or a call for help. It asks no hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers
from fastapi import Response
from sqlmodel import Session, col, select

from bcp_service import check_states as states
from bcp_service.answer_tokens import hash_token
from bcp_service.answers.links import LinkTarget, record_plan
from bcp_service.answers.service import record_answer
from bcp_service.labels import PLANNED_STAY_ANSWERS
from bcp_service.models import OutboxMessage, PatientContact, SafetyCheck
from bcp_service.models.rounds import AnswerChannel
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import render
from notifiers.twilio_codes import CALL_STATES

log = logging.getLogger("bcp_service.escalation")
DIGITS = states.DIGITS
MENU = states.keypad_prompt()
HOURS_PROMPT = (
    "人工呼吸器のバッテリーや酸素が、あと何時間もつか、数字を押して最後にシャープを押してください。"
    "わからない場合は、シャープだけを押してください。"
)
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


def menu_twiml(settings, action: str, target: LinkTarget | None) -> Response:
    """The call's question and keypad menu; a closing sentence when the check is over or unknown."""
    if target is None or target.channel != "voice" or target.expired:
        return outcome_twiml(settings, closed_outcome(target), action)
    return _menu_twiml(settings, action, drill=target.drill, notice=_notice(target))


def _menu_twiml(settings, action: str, *, drill: bool, notice: bool, retry: bool = False) -> Response:
    if notice:
        return _twiml(
            "notice_call",
            settings,
            action=action,
            drill=drill,
            retry=NOTICE_RETRY if retry else None,
            asks=ASKS,
            timeout=GATHER_TIMEOUT_SECONDS,
            menu=NOTICE_MENU,
        )
    return _twiml(
        "check_call",
        settings,
        action=action,
        drill=drill,
        retry=RETRY if retry else None,
        asks=ASKS,
        timeout=GATHER_TIMEOUT_SECONDS,
        menu=MENU,
    )


def unavailable_twiml(settings) -> Response:
    """The call's FallbackUrl without a press to keep (the database is away): the menu's digits mean
    different things in different rounds, so nothing is asked that could not be read back."""
    return _twiml("check_unavailable", settings)


def _notice(target: LinkTarget | None) -> bool:
    return target is not None and target.kind == "advance_notice"


@dataclass(frozen=True)
class KeypadPress:
    """A keypad answer as the webhook received it: what the group commit records and the journal keeps.

    ``token`` names the call we placed; ``caller`` (E.164) a call back to the 050 number.
    ``step`` is "answer" (the menu's digit) or "hours" (the second Gather).
    """

    call_sid: str
    digits: str
    step: str = "answer"
    token: str | None = None
    caller: str | None = None


@dataclass(frozen=True)
class PressOutcome:
    """What a recorded press says back: enough to render its TwiML after the commit."""

    kind: str  # "closed" | "retry" | "answered" | "ask_hours" | "hours"
    drill: bool = False
    notice: bool = False
    label: str = ""
    safe: bool = False
    expired_subject: str | None = None


def closed_outcome(target: LinkTarget | None) -> PressOutcome:
    if target is None:
        return PressOutcome("closed")
    return PressOutcome("closed", drill=target.drill, expired_subject="事前連絡" if _notice(target) else "安否確認")


def record_press(session: Session, target: LinkTarget | None, press: KeypadPress) -> PressOutcome:
    """Record one keypad press on its check (the caller locks and commits: a group commit's batch)."""
    if target is None or target.channel != "voice" or not press.call_sid or target.expired:
        return closed_outcome(target)
    if press.step == "hours":
        return _record_hours(session, target, press)
    key = press.digits.strip()[:1]
    state, plan, _ = NOTICE_KEYS.get(key, (None, None, None)) if _notice(target) else (DIGITS.get(key), None, None)
    if state is None:
        return PressOutcome("retry", drill=target.drill, notice=_notice(target))
    answer, created = record_answer(
        session=session,
        check_id=target.check_id,
        state=state,
        channel=AnswerChannel.voice,
        answered_by=_contact_kind(session, target.contact_id),
        contact_id=target.contact_id,
        idempotency_key=f"voice:{press.call_sid}",
    )
    if created:
        record_plan(session, target, plan=plan, place=None)
    recorded = answer.state
    log.info(
        "webhook.voice_answer",
        extra={"check_id": target.check_id, "call_sid": press.call_sid, "recorded": created, "state": recorded},
    )
    label = PLANNED_STAY_ANSWERS[plan] if plan and recorded == state else STATE_LABELS[recorded]
    # Help to prepare or to move (advance notice): a person calls back; the hours are not the question yet.
    kind = "ask_hours" if recorded in states.NEEDING and not _notice(target) else "answered"
    return PressOutcome(kind, drill=target.drill, notice=_notice(target), label=label, safe=recorded in states.SAFE)


def _contact_kind(session: Session, contact_id: int | None) -> str | None:
    contact = session.get(PatientContact, contact_id) if contact_id else None
    return contact.kind if contact else None


def _record_hours(session: Session, target: LinkTarget, press: KeypadPress) -> PressOutcome:
    """The second Gather: hours left, recorded as the call's answer updated (same state, with hours)."""
    check = session.get(SafetyCheck, target.check_id)
    value = press.digits.strip().rstrip("#")
    hours = float(value) if value.isdigit() and int(value) <= 720 else None
    record_answer(
        session=session,
        check_id=target.check_id,
        state=check.state,
        channel=AnswerChannel.voice,
        hours_left=hours,
        hours_unknown=hours is None,
        power="out" if check.state == "power_out" else check.power,
        answered_by=_contact_kind(session, target.contact_id),
        contact_id=target.contact_id,
        idempotency_key=f"voice:{press.call_sid}:hours",
    )
    log.info(
        "webhook.voice_hours",
        extra={"check_id": target.check_id, "call_sid": press.call_sid, "known": hours is not None},
    )
    return PressOutcome(
        "hours", drill=target.drill, label=f"残り{hours:g}時間" if hours is not None else "残り時間は不明"
    )


def outcome_twiml(settings, outcome: PressOutcome, action: str) -> Response:
    """The TwiML that answers a recorded press; ``action`` is the menu's Gather action (for a retry)."""
    if outcome.kind == "closed":
        return _twiml("check_closed", settings, drill=outcome.drill, subject=outcome.expired_subject or "安否確認")
    if outcome.kind == "retry":
        return _menu_twiml(settings, action, drill=outcome.drill, notice=outcome.notice, retry=True)
    if outcome.kind == "ask_hours":
        return _twiml(
            "check_hours",
            settings,
            drill=outcome.drill,
            label=outcome.label,
            prompt=HOURS_PROMPT,
            action=action.removesuffix("/answer") + "/hours",
            timeout=GATHER_TIMEOUT_SECONDS,
        )
    return _twiml("check_answered", settings, drill=outcome.drill, label=outcome.label, safe=outcome.safe)


def kept_twiml(settings) -> Response:
    """A press journaled before its commit (the database is slow or away): it will be recorded, so say so."""
    return _twiml("check_kept", settings)


def stranger_twiml(settings) -> Response:
    """A call to the 050 number from a number with no open check: who we are and whom to call."""
    return _twiml("incoming_unknown", settings, hub_phone=spoken_phone(settings.hub_phone))


def spoken_phone(number: str | None) -> str | None:
    """A Japanese number as people dial it (043-123-4567), for <Say>."""
    if not number:
        return None
    return phonenumbers.format_number(phonenumbers.parse(number, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL)


def oncall_page_twiml(session: Session, token: str, settings) -> Response | None:
    """oncall (issue 25.4): the TwiML of a page call to an on-call landline, or None when the token is no page.

    A page row has no check (escalation/oncall.py), so ``find_link`` does not find it; it speaks and asks nothing.
    """
    if not token or len(token) > 64:
        return None
    row = session.exec(
        select(OutboxMessage.drill).where(
            OutboxMessage.answer_token_hash == hash_token(token),
            col(OutboxMessage.check_id).is_(None),
            col(OutboxMessage.round_id).is_not(None),
            OutboxMessage.channel == "voice",
        )
    ).first()
    if row is None:
        return None
    return _twiml("oncall_call", settings, drill=bool(row))
