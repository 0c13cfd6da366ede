"""The escalation job: take the next step for every unanswered check whose time has come.

A step is due for all checks of a round at ``started_at + after_minutes``, so nothing is written
per check when a round starts. Checks are claimed in batches with one statement that moves them
to the next step (``escalation_step = k + 1``) only if they are still at step k and unanswered;
on PostgreSQL the inner SELECT uses ``FOR UPDATE SKIP LOCKED``, so several schedulers share the
work and never take the same check; on SQLite the single statement is atomic. The step's outbox
rows, its ``check_event`` and (for unreachable) the state change and counters are written in the
same transaction, so a step is taken exactly once or not at all.

An answer stops escalation (the check leaves the escalating states); a closed or expired round is
not looked at, and closing it cancels the queued messages (rounds.service.close_round).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import insert, text, update
from sqlmodel import Session, col, select

from bcp_service import contacts as reach
from bcp_service import outbox_writer
from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.escalation import oncall
from bcp_service.escalation.policy import QUIET_ACTIONS, EscalationAction, EscalationPolicy, tier_policies
from bcp_service.models import CheckEvent, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.rounds import incidents
from bcp_service.rounds.counters import CheckKeys, move_counters
from bcp_service.rounds.messages import template_for
from bcp_service.rounds.quiet import round_quiet_until

log = logging.getLogger("bcp_service.escalation")
ESCALATING_STATES = (CheckState.no_answer.value, CheckState.delivery_failed.value)
RESEND_TEMPLATE = "check_reminder"
FAMILY_TEMPLATE = "check_family"
# The SMS text of each messaging step (a call's prompt is the voice channel's).
STEP_TEMPLATES = {EscalationAction.resend: RESEND_TEMPLATE, EscalationAction.family: FAMILY_TEMPLATE}
ACTOR = "system:escalation"


def run_escalation(
    session_factory: Callable[[], Session],
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Counter[str]:
    """One pass over the running rounds; returns how many checks took each action."""
    now = now or utcnow()
    with session_factory() as session:
        rounds = session.exec(
            select(
                SafetyRound.id,
                SafetyRound.started_at,
                SafetyRound.escalation_policy,
                SafetyRound.drill,
                SafetyRound.kind,
                SafetyRound.quiet_hours,
            ).where(SafetyRound.state == RoundState.running, SafetyRound.expires_at > now)
        ).all()
    done: Counter[str] = Counter()
    for round_id, started_at, stored, drill, kind, quiet_rule in rounds:
        try:
            policies = tier_policies(stored, settings, kind)
        except ValidationError:
            log.warning("escalation.bad_policy", extra={"round_id": round_id})
            continue
        quiet = round_quiet_until(kind, quiet_rule, now, settings)
        for tier, policy in policies.items():
            for index, step in enumerate(policy.steps):
                if aware(started_at) + timedelta(minutes=step.after_minutes) > now:
                    break
                if quiet is not None and step.action in QUIET_ACTIONS:
                    break  # a notice's family or call step waits for the morning (and the steps after it)
                while True:
                    taken = escalate_batch(
                        session_factory,
                        round_id=round_id,
                        started_at=aware(started_at),
                        drill=drill,
                        policy=policy,
                        index=index,
                        settings=settings,
                        now=now,
                        tier=tier,
                        kind=kind,
                    )
                    done[step.action.value] += taken
                    if taken < settings.escalation_batch_size:
                        break
    return done


def escalate_batch(
    session_factory: Callable[[], Session],
    *,
    round_id: int,
    started_at: datetime,
    drill: bool,
    policy: EscalationPolicy,
    index: int,
    settings: Settings,
    now: datetime,
    tier: str | None = None,
    kind: str = "safety_check",
) -> int:
    step = policy.steps[index]
    following = policy.step(index + 1)
    next_at = started_at + timedelta(minutes=following.after_minutes) if following else None
    with session_factory() as session:
        try:
            claimed = _claim(
                session,
                round_id=round_id,
                index=index,
                next_at=next_at,
                limit=settings.escalation_batch_size,
                tier=tier,
            )
            if not claimed:
                session.rollback()
                return 0
            _perform(
                session,
                claimed,
                round_id=round_id,
                drill=drill,
                action=step.action,
                step_number=index + 1,
                now=now,
                kind=kind,
                budget_minutes=settings.contact_budget_minutes,
            )
            session.commit()
        except Exception:
            session.rollback()
            log.exception("escalation.batch_failed", extra={"round_id": round_id, "step": index + 1})
            return 0
    log.info(
        "escalation.step",
        extra={"round_id": round_id, "step": index + 1, "action": step.action.value, "checks": len(claimed)},
    )
    return len(claimed)


def _claim(
    session: Session, *, round_id: int, index: int, next_at: datetime | None, limit: int, tier: str | None = None
) -> list[tuple]:
    lock = "FOR UPDATE SKIP LOCKED" if session.get_bind().dialect.name == "postgresql" else ""
    of_tier = "AND risk_tier = :tier " if tier else ""
    rows = session.execute(
        text(
            "UPDATE safety_check SET escalation_step = :next_step, next_action_at = :next_at "
            "WHERE id IN (SELECT id FROM safety_check WHERE round_id = :round_id AND escalation_step = :step "
            # A check that follows another round's conversation of its incident (rounds.incidents) waits on it.
            f"AND state IN ('no_answer', 'delivery_failed') AND follows_check_id IS NULL {of_tier}"
            f"ORDER BY id LIMIT :limit {lock}) "
            "AND escalation_step = :step AND state IN ('no_answer', 'delivery_failed') "
            "RETURNING id, state, risk_tier, region_id, municipality_id, hub_id"
        ),
        {"round_id": round_id, "step": index, "next_step": index + 1, "next_at": next_at, "limit": limit, "tier": tier},
    ).all()
    return sorted(tuple(row) for row in rows)


def _perform(
    session: Session,
    claimed: list[tuple],
    *,
    round_id: int,
    drill: bool,
    action: EscalationAction,
    step_number: int,
    now: datetime,
    kind: str = "safety_check",
    budget_minutes: int = 0,
) -> None:
    events: list[dict] = []
    if action == EscalationAction.unreachable:
        _mark_unreachable(session, claimed, round_id=round_id)
        events = [_event(check_id, round_id, step_number, action, now) for check_id, *_ in claimed]
        # A critical patient who becomes unreachable pages the station's and the hub's on-call phone (issue 25.4).
        events += oncall.page_unreachable(
            session, claimed, round_id=round_id, drill=drill, step_number=step_number, now=now, queued_at=utcnow()
        )
    else:
        by_check = reach.find_usable_contacts(session=session, check_ids=[row[0] for row in claimed])
        messages = []
        for check_id, _state, risk_tier, *_ in claimed:
            chosen = reach.choose(by_check.get(check_id, []), action.value)
            messages.extend(
                outbox_writer.Queued(check_id, risk_tier, contact.id, channel, contact.address(channel))
                for contact, channel in chosen
            )
            detail = f"{len(chosen)}_contacts" if chosen else _nobody(action)
            events.append(_event(check_id, round_id, step_number, action, now, messages=len(chosen), detail=detail))
        outbox_writer.queue(
            session=session,
            round_id=round_id,
            messages=messages,
            drill=drill,
            template=template_for(kind, STEP_TEMPLATES.get(action)),
            now=utcnow(),  # sendable at once, whatever clock the job was given
            # The contact budget across rounds; a critical patient's escalation is never held.
            budget_minutes=budget_minutes,
            exempt_critical=True,
        )
    session.execute(insert(CheckEvent.__table__), events)


def _nobody(action: EscalationAction) -> str:
    return "no_family_contact" if action == EscalationAction.family else "no_contact"


def _mark_unreachable(session: Session, claimed: list[tuple], *, round_id: int) -> None:
    ids = [row[0] for row in claimed]
    session.execute(
        update(SafetyCheck)
        .where(col(SafetyCheck.id).in_(ids))
        .values(state=CheckState.unreachable.value, next_action_at=None)
    )
    move_counters(
        session=session,
        moves=[
            (CheckKeys(round_id, risk_tier, region_id, municipality_id, hub_id), state, CheckState.unreachable.value)
            for _id, state, risk_tier, region_id, municipality_id, hub_id in claimed
        ],
    )
    incidents.follow_unreachable(session=session, lead_ids=ids)  # the same person in later rounds of its incident


def _event(
    check_id: int,
    round_id: int,
    step_number: int,
    action: EscalationAction,
    now: datetime,
    *,
    messages: int = 0,
    detail: str | None = None,
) -> dict:
    return {
        "check_id": check_id,
        "round_id": round_id,
        "kind": "escalation",
        "step": step_number,
        "action": action.value,
        "at": now,
        "messages": messages,
        "detail": detail,
        "user_id": None,
        "actor_name": ACTOR,
    }
