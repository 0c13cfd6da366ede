"""Starting, reading and closing rounds. Callable without an HTTP request (schedules, triggers)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.errors import Conflict, NotFound
from bcp_service.models import OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import RoundKind, RoundReason, RoundState
from bcp_service.rounds import creation, incidents, quiet
from bcp_service.rounds.counters import initialise_counters
from bcp_service.rounds.messages import DRILL_LABEL, first_template
from bcp_service.rounds.targets import RoundTarget, resolve_codes, target_conditions

log = logging.getLogger("bcp_service.rounds")


@dataclass(frozen=True)
class Actor:
    """Who starts or closes a round: a signed-in account, or the service itself (a schedule, a trigger)."""

    name: str
    user_id: int | None = None
    role: str = "system"
    scope_id: int | None = None
    # Conditions on Patient that limit whom this actor may reach (empty: no limit).
    scope: tuple[ColumnElement[bool], ...] = field(default=(), compare=False)

    @classmethod
    def from_principal(cls, principal: Principal) -> Actor:
        return cls(
            principal.username,
            principal.user_id,
            str(principal.role),
            principal.scope_id,
            tuple(patient_scope(principal)),
        )

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(f"system:{name}")


def label(drill: bool) -> str:
    return DRILL_LABEL if drill else ""


def start_round(
    *,
    session: Session,
    actor: Actor,
    target: RoundTarget,
    reason: RoundReason,
    drill: bool,
    settings: Settings,
    deadline: datetime | None = None,
    idempotency_key: str | None = None,
    title: str | None = None,
    escalation_policy: dict | None = None,
    kind: str = "safety_check",
    hazard: str | None = None,
    join_incident: bool = False,
    event_id: str | None = None,
) -> tuple[SafetyRound, bool]:
    """Create the round, its checks and its first messages in the caller's transaction.

    Returns (round, created). With an idempotency key already used, returns that round and False.
    ``join_incident`` (a trigger's disaster round): the round joins its disaster's incident
    (``rounds.incidents``) before anything is queued, so people already in the conversation get nothing twice.
    """
    if idempotency_key and actor.user_id is not None:
        idempotency_key = account_key(actor.user_id, idempotency_key)
    if idempotency_key:
        existing = find_by_key(session=session, key=idempotency_key)
        if existing is not None:
            return existing, False
    target = resolve_codes(session=session, target=target)
    now = utcnow()
    deadline = deadline or now + timedelta(hours=settings.round_default_hours)
    if deadline.tzinfo is None:
        raise Conflict("deadline にはタイムゾーンを付けてください (deadline needs a time zone)")
    if deadline <= now:
        raise Conflict("締め切りが過去です (deadline is in the past)")
    round_id = _insert_round(
        session,
        {
            "reason": RoundReason(reason).value,
            "kind": RoundKind(kind).value,
            "drill": drill,
            "title": title,
            "started_by_user_id": actor.user_id,
            "started_by_name": actor.name[:100],
            "started_by_role": actor.role,
            "started_by_scope_id": actor.scope_id,
            "started_at": now,
            "deadline": deadline,
            "expires_at": deadline + timedelta(hours=settings.round_link_grace_hours),
            "state": RoundState.running.value,
            "target": target.model_dump(mode="json", exclude_defaults=True),
            "idempotency_key": idempotency_key,
            "escalation_policy": escalation_policy,
            "target_count": 0,
            "message_count": 0,
            "no_contact_count": 0,
            "hazard": hazard,
        },
    )
    if round_id is None:
        # Another request with the same key won the race; PostgreSQL waited for it to commit.
        existing = find_by_key(session=session, key=idempotency_key or "")
        if existing is None:
            raise Conflict("同じ冪等キーの開始処理が進行中です (a round with this key is being started)")
        return existing, False

    creation.insert_checks(
        session=session, round_id=round_id, conditions=[*target_conditions(target), *actor.scope], now=now
    )
    safety_round = session.get(SafetyRound, round_id)
    joined = None
    if join_incident:
        joined = incidents.join_new_round(
            session=session, safety_round=safety_round, event_id=event_id, settings=settings, now=now
        )
    queued, no_contact = creation.queue_first_messages(
        session=session,
        round_id=round_id,
        drill=drill,
        now=now,
        template=first_template(kind),
        budget_minutes=settings.contact_budget_minutes,
    )
    if safety_round.kind == quiet.NOTICE_KIND:
        safety_round.quiet_hours = quiet.rule_for(session, round_id=round_id, settings=settings)
        quiet.hold_family_messages(session, safety_round=safety_round, now=now)
    initialise_counters(session=session, round_id=round_id)
    followed = joined.followed if joined else 0
    safety_round.message_count = queued + (joined.asked if joined else 0)
    safety_round.no_contact_count = no_contact
    safety_round.target_count = queued + no_contact + followed
    session.add(safety_round)
    session.flush()
    creation.refresh_statistics(session=session, added=safety_round.target_count)
    log.info(
        "round.started",
        extra={
            "round_id": round_id,
            "checks": safety_round.target_count,
            "queued": queued,
            "no_contact": no_contact,
            "drill": drill,
            "reason": safety_round.reason,
        },
    )
    return safety_round, True


def _insert_round(session: Session, values: dict) -> int | None:
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(SafetyRound.__table__).values(**values)
    if values.get("idempotency_key"):
        statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return session.execute(statement.returning(SafetyRound.__table__.c.id)).scalar()


def account_key(user_id: int, key: str) -> str:
    """An account's idempotency key: the same key from another account starts its own round."""
    return f"user:{user_id}:" + hashlib.sha256(key.encode()).hexdigest()


def find_by_key(*, session: Session, key: str) -> SafetyRound | None:
    return session.exec(select(SafetyRound).where(SafetyRound.idempotency_key == key)).first()


def get_round(*, session: Session, round_id: int) -> SafetyRound:
    safety_round = session.get(SafetyRound, round_id)
    if safety_round is None:
        raise NotFound("安否確認が見つかりません (round not found)")
    return safety_round


def list_rounds(
    *,
    session: Session,
    principal: Principal | None,
    state: RoundState | None = None,
    drill: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SafetyRound], int]:
    """Rounds, newest first, that ``principal`` may see (``rounds.visibility``). No default: a caller
    says whose list it is; ``None`` only for the operator's CLI (every round)."""
    from bcp_service.rounds.visibility import round_conditions

    conditions = round_conditions(principal) if principal is not None else []
    if state is not None:
        conditions.append(SafetyRound.state == state)
    if drill is not None:
        conditions.append(SafetyRound.drill == drill)
    total = session.exec(select(func.count()).select_from(SafetyRound).where(*conditions)).one()
    rows = session.exec(
        select(SafetyRound).where(*conditions).order_by(col(SafetyRound.id).desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def may_close(actor: Actor, safety_round: SafetyRound) -> bool:
    """Admins close any round; others close rounds started within their own role and scope."""
    if actor.role in (Role.admin, "system"):
        return True
    return (safety_round.started_by_role, safety_round.started_by_scope_id) == (actor.role, actor.scope_id)


@dataclass(frozen=True)
class CloseEffects:
    """What closing a round stops: the round page's confirmation says it before anyone clicks."""

    queued: int  # messages not sent yet: cancelled
    waiting: int  # people not heard from: their escalation (resend, family, call) stops
    handed_back: int  # people whose conversation this round carries for a later round of its incident


def close_effects(*, session: Session, round_id: int) -> CloseEffects:
    queued = session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.round_id == round_id, OutboxMessage.state == MessageState.queued)
    ).one()
    waiting = session.exec(
        select(func.count())
        .select_from(SafetyCheck)
        .where(SafetyCheck.round_id == round_id, col(SafetyCheck.state).in_(("no_answer", "delivery_failed")))
    ).one()
    mine = select(SafetyCheck.id).where(SafetyCheck.round_id == round_id)
    handed_back = session.exec(
        select(func.count()).select_from(SafetyCheck).where(col(SafetyCheck.follows_check_id).in_(mine))
    ).one()
    return CloseEffects(queued, waiting, handed_back)


def close_round(*, session: Session, round_id: int, actor: Actor) -> SafetyRound:
    """Stop the round: answer links expire now and messages not yet sent are cancelled."""
    safety_round = get_round(session=session, round_id=round_id)
    if safety_round.state == RoundState.closed:
        return safety_round
    now = utcnow()
    safety_round.state = RoundState.closed.value
    safety_round.closed_at = now
    safety_round.closed_by_name = actor.name[:100]
    safety_round.expires_at = min(aware(safety_round.expires_at), now)
    session.add(safety_round)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.round_id == round_id, OutboxMessage.state == MessageState.queued)
        .values(state=MessageState.cancelled.value, answer_token=None, status_at=now)
    )
    # Conversations this round carried for later rounds of its incident go on there.
    released = incidents.release_followers(session=session, round_id=round_id)
    session.flush()
    log.info("round.closed", extra={"round_id": round_id, "released": released})
    return safety_round
