"""Keypad answers as a batch: what the voice group commit and the webhook journal apply.

A press names its check by the token of the call we placed or, for a call back to the 050 number,
by the caller's number (the contacts and patients registered with it, as an SMS reply is matched:
``inbound.open_checks_for``). Recording is escalation.voice's ``record_press``.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bcp_service.answers.links import LinkTarget, find_links
from bcp_service.escalation.voice import KeypadPress, PressOutcome, record_press
from bcp_service.models import SafetyCheck, SafetyRound
from bcp_service.webhooks.inbound import open_checks_for


def caller_target(session: Session, caller: str) -> LinkTarget | None:
    """The open check a caller's number leads to; None for a stranger or a number several patients share."""
    candidates = open_checks_for(session, {caller}).get(caller, [])
    if not candidates or len({c[3] for c in candidates}) > 1:
        return None
    check_id, contact_id, _drill, patient_id = max(candidates)  # the latest round's check
    row = session.execute(
        select(
            SafetyCheck.state,
            SafetyCheck.last_answer_at,
            SafetyRound.state,
            SafetyRound.expires_at,
            SafetyRound.drill,
            SafetyRound.title,
            SafetyRound.kind,
        )
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(col(SafetyCheck.id) == check_id)
    ).one()
    check_state, answered_at, round_state, expires_at, drill, title, kind = row
    # No outbox row: the call came in. Its "channel" is still the keypad's.
    return LinkTarget(
        0,
        "voice",
        contact_id,
        check_id,
        check_state,
        answered_at is not None,
        round_state,
        expires_at,
        drill,
        title,
        kind,
        patient_id,
    )


def apply_presses(session: Session, presses: list[KeypadPress]) -> list[PressOutcome]:
    """Record keypad presses in order, in the caller's transaction (a group commit's batch, or a replay)."""
    links = find_links(session=session, tokens=[p.token for p in presses if p.token])
    outcomes = []
    for press in presses:
        if press.token:
            target = links.get(press.token)
        else:
            target = caller_target(session, press.caller) if press.caller else None
        outcomes.append(record_press(session, target, press))
    return outcomes
