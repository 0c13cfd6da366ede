"""Recording answers: one history per check, the check showing the latest by observed time.

``record_answers`` takes a batch (a group commit's worth of SMS replies or answer-page taps) and
does its reads and writes per batch, not per answer: one query for the idempotency keys, one to
lock the checks, one flush for the new rows. ``record_answer`` is the same for one answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from bcp_service.audit.chain import append as append_chained
from bcp_service.clock import aware
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import CheckAnswer, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import ANSWER_STATES, CheckState, Power
from bcp_service.rounds import incidents
from bcp_service.rounds.counters import CheckKeys, move_counters

log = logging.getLogger("bcp_service.answers")
RECORDABLE = frozenset({*ANSWER_STATES, CheckState.unreachable})


@dataclass(frozen=True)
class NewAnswer:
    check_id: int
    state: str
    channel: str
    observed_at: datetime | None = None
    # The structured answer (models.rounds.CheckAnswer): every channel fills the same fields.
    hours_left: float | None = None
    note: str | None = None
    power: str | None = None  # on / out / unknown; None: not said
    hours_unknown: bool = False  # said "don't know" (counts as zero in triage, like not saying)
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: str | None = None
    answered_by: str | None = None
    user_id: int | None = None
    contact_id: int | None = None
    # "sms:<MessageSid>", "link:<message>:<nonce>", ...: a repeated delivery records nothing new.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RecordedAnswer:
    id: int
    check_id: int
    round_id: int
    state: str


@dataclass
class LockedCheck:
    id: int
    round_id: int
    state: str
    last_answer_at: datetime | None
    keys: CheckKeys
    patient_id: int | None = None


_answers = CheckAnswer.__table__
_checks = SafetyCheck.__table__
_LOCK_COLUMNS = (
    _checks.c.id,
    _checks.c.round_id,
    _checks.c.state,
    _checks.c.last_answer_at,
    _checks.c.risk_tier,
    _checks.c.region_id,
    _checks.c.municipality_id,
    _checks.c.hub_id,
    _checks.c.patient_id,
)
_STRUCTURE = ("power", "hours_unknown", "needs_transport", "needs_admission", "evacuated_to", "note")
_UPDATE_CHECK = (
    update(_checks)
    .where(_checks.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        hours_left=bindparam("b_hours"),
        last_answer_at=bindparam("b_at"),
        last_channel=bindparam("b_channel"),
        **{name: bindparam(f"b_{name}") for name in _STRUCTURE},
    )
)
_INSERT_ANSWER = insert(_answers).returning(_answers.c.id, sort_by_parameter_order=True)


def lock_checks(session: Session, check_ids: set[int]) -> dict[int, LockedCheck]:
    """Lock the checks, in id order (two writers locking overlapping sets cannot deadlock).

    The row lock serialises answers to one check, so its counters move exactly once per change.
    Plain columns, not ORM objects: a check already in the session (read before the lock) cannot
    lend its stale state to the counters.
    """
    if not check_ids:
        return {}
    rows = session.execute(
        select(*_LOCK_COLUMNS).where(_checks.c.id.in_(sorted(check_ids))).order_by(_checks.c.id).with_for_update()
    ).all()
    return {
        row[0]: LockedCheck(row[0], row[1], row[2], row[3], CheckKeys(row[1], row[4], row[5], row[6], row[7]), row[8])
        for row in rows
    }


def record_answers(*, session: Session, answers: list[NewAnswer]) -> list[tuple[RecordedAnswer, bool]]:
    """Add answers to their checks' histories; returns (answer, created) for each, in order.

    A repeated idempotency key (the provider's message id, the form's nonce), also within the
    batch, returns the first answer and changes nothing. An answer observed before the latest one
    is kept in the history but does not change the check's state. Written with Core statements,
    one per kind for the whole batch (building ORM objects was most of an answer's cost).
    """
    for answer in answers:
        if answer.state not in RECORDABLE:
            raise FieldError(f"回答として記録できない状態です (not an answer state): {answer.state}", field="state")
    if not answers:
        return []
    session.flush()
    # One conversation per person and incident (rounds.incidents): an answer to one of its checks is
    # recorded on the others too, under the same locks. Only the caller's answers are returned.
    asked = len(answers)
    answers = [*answers, *_copies_for_siblings(session, answers)]
    keys = {a.idempotency_key for a in answers if a.idempotency_key}
    existing = _by_keys(session, keys)
    checks = lock_checks(session, {a.check_id for a in answers if a.idempotency_key not in existing})
    # Checked again under the locks: a concurrent duplicate waited for us and must now see our row.
    existing |= _by_keys(session, keys - existing.keys())
    now = utcnow()
    rows, slots, updates, moves = [], [], {}, []
    batch_keys: dict[str, int] = {}
    for new in answers:
        if new.idempotency_key in existing or new.idempotency_key in batch_keys:
            slots.append(None)
            continue
        check = checks.get(new.check_id)
        if check is None:
            raise NotFound("安否確認の対象が見つかりません (check not found)")
        observed_at = aware(new.observed_at) if new.observed_at else now
        if new.idempotency_key:
            batch_keys[new.idempotency_key] = len(rows)
        slots.append(len(rows))
        rows.append(
            {
                "check_id": check.id,
                "round_id": check.round_id,
                "state": str(new.state),
                "hours_left": new.hours_left,
                "note": new.note,
                "channel": str(new.channel),
                **_structure(new),
                "answered_by": new.answered_by,
                "user_id": new.user_id,
                "contact_id": new.contact_id,
                "observed_at": observed_at,
                "received_at": now,
                "idempotency_key": new.idempotency_key,
            }
        )
        if check.last_answer_at is None or observed_at >= aware(check.last_answer_at):
            moves.append((check.keys, check.state, str(new.state)))
            check.state, check.last_answer_at = str(new.state), observed_at
            updates[check.id] = {
                "b_id": check.id,
                "b_state": str(new.state),
                "b_hours": new.hours_left,
                "b_at": observed_at,
                "b_channel": str(new.channel),
                **{f"b_{name}": value for name, value in _structure(new).items()},
                "b_note": new.note,
            }
    ids = [row[0] for row in session.execute(_INSERT_ANSWER, rows)] if rows else []
    if updates:
        session.execute(_UPDATE_CHECK, list(updates.values()))
        _expire_loaded_checks(session, updates)
    move_counters(session=session, moves=moves)
    audit_answers(session, rows, ids, {c.id: c.patient_id for c in checks.values()}, now)
    results = []
    for new, slot in zip(answers, slots, strict=True):
        if slot is None:
            key = new.idempotency_key
            if key in existing:
                results.append((existing[key], False))
            else:
                first = batch_keys[key]
                results.append(
                    (
                        RecordedAnswer(
                            ids[first], rows[first]["check_id"], rows[first]["round_id"], rows[first]["state"]
                        ),
                        False,
                    )
                )
            continue
        row = rows[slot]
        results.append((RecordedAnswer(ids[slot], row["check_id"], row["round_id"], row["state"]), True))
        log.info(
            "answer.recorded",
            extra={
                "check_id": row["check_id"],
                "round_id": row["round_id"],
                "answer_id": ids[slot],
                "channel": row["channel"],
                "state": row["state"],
            },
        )
    return results[:asked]


def _copies_for_siblings(session: Session, answers: list[NewAnswer]) -> list[NewAnswer]:
    """The same answers for the other checks of each person's conversation in its incident's running rounds."""
    answered = {a.check_id for a in answers}
    others = incidents.siblings(session, answered)
    copies = []
    for answer in answers:
        # A check the batch answers itself (an SMS reply recorded on each open check of its patient) needs no copy.
        for sibling in (c for c in others.get(answer.check_id, ()) if c not in answered):
            key = f"{answer.idempotency_key}>c{sibling}"[:200] if answer.idempotency_key else None
            copies.append(
                replace(answer, check_id=sibling, idempotency_key=key, observed_at=answer.observed_at or utcnow())
            )
    return copies


def _structure(new: NewAnswer) -> dict:
    if new.power is not None and new.power not in set(Power):
        raise FieldError(f"電気の状態が不正です (power must be on, out or unknown): {new.power}", field="power")
    power = "out" if new.power is None and new.state == "power_out" else new.power
    return {
        "power": power,
        "hours_unknown": bool(new.hours_unknown) and new.hours_left is None,
        "needs_transport": bool(new.needs_transport) or new.state == "needs_transport",
        "needs_admission": bool(new.needs_admission),
        "evacuated_to": (new.evacuated_to or "").strip()[:200] or None,
    }


# Answers by link, SMS and voice come from no account: each is an audit event of its own, naming the
# check, the patient and who answered (self, family, a contact id). Nurses' and reviewers' answers are
# audited by their routes, with the account.
UNAUDITED_CHANNELS = {"link", "sms", "voice"}


def audit_answers(
    session: Session, rows: list[dict], ids: list[int], patients: dict[int, int | None], now: datetime
) -> None:
    chosen = [
        (row, answer_id) for row, answer_id in zip(rows, ids, strict=True) if row["channel"] in UNAUDITED_CHANNELS
    ]
    if not chosen:
        return
    events = [
        {
            "at": now,
            "user_id": None,
            "username": f"{row['channel']}:{row['answered_by'] or 'unknown'}"[:64],
            "role": None,
            "action": f"answer.{row['channel']}",
            "resource": f"check/{row['check_id']}",
            "address": None,
            "patient_count": 1 if patients.get(row["check_id"]) else 0,
            "detail": (
                f"round {row['round_id']} check {row['check_id']} answer {answer_id} state {row['state']} "
                f"by {row['answered_by'] or '-'} contact {row['contact_id'] or '-'}"
            )[:500],
        }
        for row, answer_id in chosen
    ]
    append_chained(
        session, events, [[patients[row["check_id"]]] if patients.get(row["check_id"]) else [] for row, _ in chosen]
    )


def _expire_loaded_checks(session: Session, check_ids) -> None:
    # The checks were changed with Core: an ORM copy already in this session must reload.
    for check_id in check_ids:
        loaded = session.identity_map.get(identity_key(SafetyCheck, check_id))
        if loaded is not None:
            session.expire(loaded)


def record_answer(
    *, session: Session, check_id: int, state: str, channel: str, **fields
) -> tuple[RecordedAnswer, bool]:
    """One answer (``NewAnswer``'s fields); returns (answer, created)."""
    (result,) = record_answers(session=session, answers=[NewAnswer(check_id, state, channel, **fields)])
    return result


def _by_keys(session: Session, keys: set[str]) -> dict[str, RecordedAnswer]:
    if not keys:
        return {}
    rows = session.execute(
        select(
            _answers.c.idempotency_key, _answers.c.id, _answers.c.check_id, _answers.c.round_id, _answers.c.state
        ).where(_answers.c.idempotency_key.in_(sorted(keys)))
    ).all()
    return {
        key: RecordedAnswer(answer_id, check_id, round_id, state) for key, answer_id, check_id, round_id, state in rows
    }
