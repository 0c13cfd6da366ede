"""Incidents: the rounds of one disaster in one area, and one conversation with each person across them.

A quake, its tsunami, a stronger aftershock and the blackout the quake caused are one disaster. A
disaster round started by a trigger joins the open incident of the same kind (real or drill) whose
last round started within ``incident_window_minutes`` and that shares a municipality with it or the
JMA event (a tsunami bulletin's event is its quake's); a round page joins one by hand.

Within an incident each person has one conversation, carried by one check: the *lead*. A later
round's check of the same person *follows* it (``safety_check.follows_check_id``):

- it sends no first message and does not escalate (the lead's escalation goes on);
- it takes the lead's latest answer at once, if that answer is still fresh for the new round's
  hazard (``incident_answer_fresh_minutes``); an answer older than that does not count: the new
  check becomes the lead, the person is asked again and the old checks follow it;
- every answer to one check of the conversation is recorded on all of them
  (``answers.service.record_answers``), so the person is 無事 in every round or in none;
- a hazard that adds a question (``incident_added_questions``: a tsunami asks about evacuation)
  sends that one question, once per person and incident, to those who have not already said so.

Closing a round hands its conversations back: checks that followed one of its checks lead again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlmodel import Session, col

from bcp_service import outbox_writer
from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.contacts import choose, contacts_of_patients
from bcp_service.errors import Conflict
from bcp_service.labels import HAZARD_LABELS
from bcp_service.models import Incident, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.outbox_writer import Queued
from bcp_service.rounds.counters import CheckKeys, move_counters

log = logging.getLogger("bcp_service.rounds")

# The answer columns a follower takes from its lead.
ANSWER_COLUMNS = (
    "state",
    "hours_left",
    "power",
    "hours_unknown",
    "needs_transport",
    "needs_admission",
    "evacuated_to",
    "note",
    "last_answer_at",
    "last_channel",
)
_checks = SafetyCheck.__table__


@dataclass(frozen=True)
class Joined:
    incident_id: int
    followed: int  # checks that follow an earlier round's conversation (nothing sent to them)
    took_over: int  # people whose earlier answer was too old: asked again in this round
    asked: int  # added questions queued (a tsunami's evacuation question)


def base_event_id(event_id: str | None) -> str | None:
    """A tsunami's trigger event is ``tsunami-<the quake's EventID>``: both name the same disaster."""
    if not event_id:
        return None
    return event_id.removeprefix("tsunami-")


def fresh_minutes(settings: Settings, hazard: str | None) -> int:
    table = settings.incident_answer_fresh_minutes
    return int(table.get(hazard or "other", table.get("other", 120)))


def hazard_label(hazards: Sequence[str]) -> str:
    return "・".join(HAZARD_LABELS.get(h, h) for h in hazards)


def find_incident(
    *, session: Session, safety_round: SafetyRound, event_id: str | None, settings: Settings, now: datetime
) -> Incident | None:
    """The open incident this new round belongs to, if any (same kind, recent, same area or event)."""
    since = now - timedelta(minutes=settings.incident_window_minutes)
    candidates = (
        session.exec(
            select(Incident)
            .where(Incident.drill == safety_round.drill, Incident.last_round_at >= since)
            .order_by(col(Incident.id).desc())
        )
        .scalars()
        .all()
    )
    base = base_event_id(event_id)
    here = select(SafetyCheck.municipality_id).where(SafetyCheck.round_id == safety_round.id)
    for incident in candidates:
        if base and base in (incident.event_ids or []):
            return incident
        shared = session.execute(
            select(SafetyCheck.id)
            .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
            .where(
                SafetyRound.incident_id == incident.id,
                SafetyRound.id != safety_round.id,
                col(SafetyCheck.municipality_id).in_(here),
            )
            .limit(1)
        ).first()
        if shared is not None:
            return incident
    return None


def open_incident(*, session: Session, safety_round: SafetyRound, now: datetime) -> Incident:
    incident = Incident(
        title=(safety_round.title or f"安否確認 #{safety_round.id}")[:200],
        drill=safety_round.drill,
        hazards=[],
        event_ids=[],
        opened_at=now,
        last_round_at=now,
    )
    session.add(incident)
    session.flush()
    return incident


def join_new_round(
    *, session: Session, safety_round: SafetyRound, event_id: str | None, settings: Settings, now: datetime
) -> Joined:
    """Place a just-created round (checks inserted, nothing queued yet) in its incident and link its checks."""
    incident = find_incident(
        session=session, safety_round=safety_round, event_id=event_id, settings=settings, now=now
    ) or open_incident(session=session, safety_round=safety_round, now=now)
    return _join(
        session=session,
        safety_round=safety_round,
        incident=incident,
        event_id=event_id,
        settings=settings,
        now=now,
        ask=True,
    )


def join_by_hand(*, session: Session, round_id: int, other_round_id: int, settings: Settings, now: datetime) -> Joined:
    """The round page's 「同じ災害として統合」: ``round_id`` joins the incident of ``other_round_id``.

    Messages already sent stay sent; from now on the two share each person's conversation (the
    later round's checks follow, taking the earlier answers that are still fresh).
    """
    safety_round = session.get(SafetyRound, round_id)
    other = session.get(SafetyRound, other_round_id)
    if safety_round is None or other is None or round_id == other_round_id:
        raise Conflict("統合する安否確認を選んでください", field="other_round_id")
    if safety_round.drill != other.drill:
        raise Conflict("訓練と本番の安否確認は統合できません", field="other_round_id")
    if RoundState.running.value not in (safety_round.state, other.state) or safety_round.state != other.state:
        raise Conflict("実施中の安否確認どうしだけ統合できます", field="other_round_id")
    if safety_round.incident_id is not None and safety_round.incident_id == other.incident_id:
        raise Conflict("すでに同じ災害としてまとめられています", field="other_round_id")
    first, later = sorted((safety_round, other), key=lambda r: r.id)
    incident = session.get(Incident, first.incident_id) if first.incident_id else None
    if incident is None:
        incident = open_incident(session=session, safety_round=first, now=now)
        _join(
            session=session, safety_round=first, incident=incident, event_id=None, settings=settings, now=now, ask=False
        )
    if later.incident_id is not None and later.incident_id != incident.id:
        # The later round's own incident folds into this one, with every round it held.
        for moved in session.exec(select(SafetyRound).where(SafetyRound.incident_id == later.incident_id)).scalars():
            moved.incident_id = incident.id
            session.add(moved)
        session.flush()
    return _join(
        session=session,
        safety_round=later,
        incident=incident,
        event_id=None,
        settings=settings,
        now=now,
        ask=False,
        copy_with_counters=True,
    )


def _join(
    *,
    session: Session,
    safety_round: SafetyRound,
    incident: Incident,
    event_id: str | None,
    settings: Settings,
    now: datetime,
    ask: bool,
    copy_with_counters: bool = False,
) -> Joined:
    safety_round.incident_id = incident.id
    session.add(safety_round)
    if safety_round.hazard and safety_round.hazard not in incident.hazards:
        incident.hazards = [*incident.hazards, safety_round.hazard]
    base = base_event_id(event_id)
    if base and base not in incident.event_ids:
        incident.event_ids = [*incident.event_ids, base]
    incident.last_round_at = max(aware(incident.last_round_at), now)
    session.add(incident)
    session.flush()
    others = session.execute(
        select(SafetyRound.id)
        .where(
            SafetyRound.incident_id == incident.id,
            SafetyRound.id != safety_round.id,
            SafetyRound.state == RoundState.running.value,
        )
        .limit(1)
    ).first()
    if others is None:  # the incident's first round (a 200,000-patient round starts with no join over its checks)
        log.info("incident.opened", extra={"round_id": safety_round.id, "incident_id": incident.id})
        return Joined(incident.id, 0, 0, 0)
    lead = _checks.alias("lead")
    mine = _checks.alias("mine")
    rows = session.execute(
        select(mine.c.id, mine.c.patient_id, mine.c.risk_tier, lead.c.id, *[lead.c[name] for name in ANSWER_COLUMNS])
        .join(lead, lead.c.patient_id == mine.c.patient_id)
        .join(SafetyRound, SafetyRound.id == lead.c.round_id)
        .where(
            mine.c.round_id == safety_round.id,
            lead.c.follows_check_id.is_(None),
            SafetyRound.incident_id == incident.id,
            SafetyRound.id != safety_round.id,
            SafetyRound.state == RoundState.running.value,
        )
        .order_by(mine.c.id, lead.c.id)
    ).all()
    cutoff = now - timedelta(minutes=fresh_minutes(settings, safety_round.hazard))
    follow: dict[int, dict] = {}
    take_over: dict[int, int] = {}
    for row in rows:
        check_id, lead_id = row[0], row[3]
        if check_id in follow or check_id in take_over:
            continue
        answer = dict(zip(ANSWER_COLUMNS, row[4:], strict=True))
        if answer["last_answer_at"] is not None and aware(answer["last_answer_at"]) < cutoff:
            take_over[check_id] = lead_id
        else:
            follow[check_id] = {"patient_id": row[1], "risk_tier": row[2], "lead_id": lead_id, **answer}
    if follow:
        if copy_with_counters:
            _follow_recording(session, follow)
        else:
            session.execute(
                update(_checks)
                .where(_checks.c.id == bindparam("b_id"))
                .values(follows_check_id=bindparam("b_lead"), **{n: bindparam(f"b_{n}") for n in ANSWER_COLUMNS}),
                [
                    {"b_id": cid, "b_lead": f["lead_id"], **{f"b_{n}": f[n] for n in ANSWER_COLUMNS}}
                    for cid, f in follow.items()
                ],
            )
    for check_id, lead_id in take_over.items():
        session.execute(
            update(_checks)
            .where(or_(_checks.c.id == lead_id, _checks.c.follows_check_id == lead_id))
            .values(follows_check_id=check_id)
        )
    asked = (
        _ask_added(session, safety_round=safety_round, incident=incident, follow=follow, settings=settings, now=now)
        if ask
        else 0
    )
    log.info(
        "incident.joined",
        extra={
            "round_id": safety_round.id,
            "incident_id": incident.id,
            "followed": len(follow),
            "took_over": len(take_over),
            "asked": asked,
        },
    )
    return Joined(incident.id, len(follow), len(take_over), asked)


def _follow_recording(session: Session, follow: dict[int, dict]) -> None:
    """A round joined by hand already has counters: the lead's answers go in as answers (counters move)."""
    session.execute(
        update(_checks).where(_checks.c.id == bindparam("b_id")).values(follows_check_id=bindparam("b_lead")),
        [{"b_id": cid, "b_lead": f["lead_id"]} for cid, f in follow.items()],
    )
    # What this round had not sent yet to people now in the other round's conversation is not sent twice.
    ids = sorted(follow)
    for start in range(0, len(ids), 5000):
        session.execute(
            update(OutboxMessage.__table__)
            .where(
                OutboxMessage.__table__.c.check_id.in_(ids[start : start + 5000]),
                OutboxMessage.__table__.c.state == MessageState.queued.value,
            )
            .values(state=MessageState.cancelled.value, answer_token=None, status_at=utcnow())
        )
    answered = {cid: f for cid, f in follow.items() if f["last_answer_at"] is not None}
    if not answered:
        return
    current = {
        row.id: row
        for row in session.execute(
            select(
                _checks.c.id,
                _checks.c.round_id,
                _checks.c.state,
                _checks.c.risk_tier,
                _checks.c.region_id,
                _checks.c.municipality_id,
                _checks.c.hub_id,
                _checks.c.last_answer_at,
            )
            .where(_checks.c.id.in_(sorted(answered)))
            .with_for_update()
        )
    }
    moves, updates = [], []
    for cid, f in answered.items():
        row = current[cid]
        if row.last_answer_at is not None and aware(row.last_answer_at) >= aware(f["last_answer_at"]):
            continue  # this round heard from the person more recently itself
        moves.append(
            (
                CheckKeys(row.round_id, row.risk_tier, row.region_id, row.municipality_id, row.hub_id),
                row.state,
                f["state"],
            )
        )
        updates.append({"b_id": cid, **{f"b_{n}": f[n] for n in ANSWER_COLUMNS}})
    if updates:
        session.execute(
            update(_checks)
            .where(_checks.c.id == bindparam("b_id"))
            .values(**{n: bindparam(f"b_{n}") for n in ANSWER_COLUMNS}),
            updates,
        )
    move_counters(session=session, moves=moves)


def _ask_added(
    session: Session,
    *,
    safety_round: SafetyRound,
    incident: Incident,
    follow: dict[int, dict],
    settings: Settings,
    now: datetime,
) -> int:
    template = settings.incident_added_questions.get(safety_round.hazard or "")
    if not template or not follow:
        return 0
    wanting = {
        cid: f for cid, f in follow.items() if f["state"] != CheckState.evacuated.value and not f["evacuated_to"]
    }
    if not wanting:
        return 0
    # Once per person and incident: anyone already sent this question in one of its rounds is skipped.
    asked_before = set(
        session.execute(
            select(SafetyCheck.patient_id)
            .join(OutboxMessage, OutboxMessage.check_id == SafetyCheck.id)
            .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
            .where(SafetyRound.incident_id == incident.id, OutboxMessage.template == template)
        ).scalars()
    )
    wanting = {cid: f for cid, f in wanting.items() if f["patient_id"] not in asked_before}
    contacts = contacts_of_patients(session=session, patient_ids=sorted({f["patient_id"] for f in wanting.values()}))
    messages = []
    for cid, f in wanting.items():
        chosen = choose(contacts.get(f["patient_id"], ()), "first")
        # The added question is a text with its own answer link; a landline's call carries the lead's prompt.
        if chosen and chosen[0][1] == "sms":
            contact, channel = chosen[0]
            messages.append(Queued(cid, f["risk_tier"], contact.id, channel, contact.address(channel)))
    return outbox_writer.queue(
        session=session,
        round_id=safety_round.id,
        messages=messages,
        template=template,
        drill=safety_round.drill,
        now=now,
        budget_minutes=settings.contact_budget_minutes,
        # Held to the budget like any message, except for critical-tier patients.
        exempt_critical=True,
    )


def follow_unreachable(*, session: Session, lead_ids: Sequence[int]) -> int:
    """The escalation marked these leads unreachable: their followers (not heard from either) are too."""
    if not lead_ids:
        return 0
    rows = session.execute(
        select(
            _checks.c.id,
            _checks.c.round_id,
            _checks.c.state,
            _checks.c.risk_tier,
            _checks.c.region_id,
            _checks.c.municipality_id,
            _checks.c.hub_id,
        )
        .where(
            _checks.c.follows_check_id.in_(list(lead_ids)),
            _checks.c.state.in_((CheckState.no_answer.value, CheckState.delivery_failed.value)),
        )
        .with_for_update()
    ).all()
    if not rows:
        return 0
    session.execute(
        update(_checks).where(_checks.c.id.in_([row[0] for row in rows])).values(state=CheckState.unreachable.value)
    )
    move_counters(
        session=session,
        moves=[
            (CheckKeys(round_id, tier, region_id, municipality_id, hub_id), state, CheckState.unreachable.value)
            for _id, round_id, state, tier, region_id, municipality_id, hub_id in rows
        ],
    )
    return len(rows)


def release_followers(*, session: Session, round_id: int) -> int:
    """A round closes: checks that followed one of its checks lead their conversation again."""
    ids = select(SafetyCheck.id).where(SafetyCheck.round_id == round_id)
    return session.execute(
        update(SafetyCheck)
        .where(col(SafetyCheck.follows_check_id).in_(ids))
        .values(follows_check_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount


def siblings(session: Session, check_ids: set[int]) -> dict[int, list[int]]:
    """check id → the other checks of its conversation in running rounds (empty for most checks)."""
    if not check_ids:
        return {}
    leads = {
        row[0]: row[1] or row[0]
        for row in session.execute(
            select(_checks.c.id, _checks.c.follows_check_id).where(_checks.c.id.in_(sorted(check_ids)))
        )
    }
    if not leads:
        return {}
    lead_ids = sorted(set(leads.values()))
    members: dict[int, list[int]] = {}
    for member_id, follows in session.execute(
        select(_checks.c.id, _checks.c.follows_check_id)
        .join(SafetyRound, SafetyRound.id == _checks.c.round_id)
        .where(
            or_(_checks.c.id.in_(lead_ids), _checks.c.follows_check_id.in_(lead_ids)),
            SafetyRound.state == RoundState.running.value,
        )
    ):
        members.setdefault(follows or member_id, []).append(member_id)
    return {cid: sorted(m for m in members.get(lead, ()) if m != cid) for cid, lead in leads.items()}


@dataclass(frozen=True)
class IncidentView:
    id: int
    title: str
    hazards: str
    rounds: list[SafetyRound]
    followed: int  # checks of the viewed round that follow another round's conversation


def incident_view(*, session: Session, safety_round: SafetyRound) -> IncidentView | None:
    if safety_round.incident_id is None:
        return None
    incident = session.get(Incident, safety_round.incident_id)
    if incident is None:
        return None
    rounds = list(
        session.exec(
            select(SafetyRound).where(SafetyRound.incident_id == incident.id).order_by(SafetyRound.id)
        ).scalars()
    )
    followed = session.execute(
        select(func.count())
        .select_from(_checks)
        .where(_checks.c.round_id == safety_round.id, _checks.c.follows_check_id.is_not(None))
    ).scalar_one()
    return IncidentView(incident.id, incident.title, hazard_label(incident.hazards), rounds, followed)


def rounds_of_people(session: Session, lead_ids: Sequence[int]) -> dict[int, list[tuple[int, str | None, bool]]]:
    """lead check id → (round id, title, drill) of every running round its conversation is in."""
    found: dict[int, list[tuple[int, str | None, bool]]] = {}
    if not lead_ids:
        return found
    for member_id, follows, round_id, title, drill in session.execute(
        select(_checks.c.id, _checks.c.follows_check_id, SafetyRound.id, SafetyRound.title, SafetyRound.drill)
        .join(SafetyRound, SafetyRound.id == _checks.c.round_id)
        .where(or_(_checks.c.id.in_(list(lead_ids)), _checks.c.follows_check_id.in_(list(lead_ids))))
        .order_by(SafetyRound.id)
    ):
        found.setdefault(follows or member_id, []).append((round_id, title, drill))
    return found


@dataclass(frozen=True)
class Budget:
    """The contact budget as the round page states it (settings.contact_budget_minutes)."""

    minutes: int
    held: int  # this round's messages waiting for the budget (not retries: never tried yet)
    next_due: datetime | None


def contact_budget(*, session: Session, round_id: int, settings: Settings) -> Budget:
    now = utcnow()
    held, next_due = session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.round_id == round_id,
            OutboxMessage.state == MessageState.queued.value,
            OutboxMessage.attempts == 0,
            OutboxMessage.throttled == 0,
            OutboxMessage.next_attempt_at > now,
        )
    ).one()
    return Budget(settings.contact_budget_minutes, held, aware(next_due) if next_due else None)


def rounds_of_patients(session: Session, *, round_id: int, patient_ids: Sequence[int]) -> dict[int, list[int]]:
    """patient id → the rounds of this round's incident the patient is in (exports: each person once, with them)."""
    safety_round = session.get(SafetyRound, round_id)
    if safety_round is None or safety_round.incident_id is None or not patient_ids:
        return {}
    found: dict[int, list[int]] = {}
    ids = sorted(set(patient_ids))
    for start in range(0, len(ids), 5000):
        for patient_id, member_round in session.execute(
            select(_checks.c.patient_id, _checks.c.round_id)
            .join(SafetyRound, SafetyRound.id == _checks.c.round_id)
            .where(
                SafetyRound.incident_id == safety_round.incident_id, _checks.c.patient_id.in_(ids[start : start + 5000])
            )
            .order_by(_checks.c.round_id)
        ):
            found.setdefault(patient_id, []).append(member_round)
    return found
