"""The nurses' follow-up queue (checks escalation gave up on) and assigning a check to a nurse."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.contacts import callable_phone
from bcp_service.errors import Conflict, FieldError, NotFound
from bcp_service.models import CheckEvent, Patient, PatientContact, SafetyCheck, User
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.rounds.checks import find_check_in_scope
from bcp_service.rounds.service import get_round

FOLLOW_UP_STATES = (CheckState.unreachable.value,)


@dataclass(frozen=True)
class FollowUpRow:
    check: SafetyCheck
    patient_name: str
    address: str | None
    unreachable_at: datetime | None
    phones: list[tuple[str, str]]  # (kind, phone) in calling order, usable ones only


def list_follow_up(
    *,
    session: Session,
    round_id: int,
    scope: list[ColumnElement[bool]],
    assigned: bool | None = None,
    assigned_user_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[FollowUpRow], int]:
    """Unreachable checks in the caller's scope, the most urgent first (risk tier, then oldest)."""
    conditions = [SafetyCheck.round_id == round_id, col(SafetyCheck.state).in_(FOLLOW_UP_STATES), *scope]
    if assigned is not None:
        is_assigned = col(SafetyCheck.assigned_user_id).is_not(None)
        conditions.append(is_assigned if assigned else ~is_assigned)
    if assigned_user_id is not None:
        conditions.append(SafetyCheck.assigned_user_id == assigned_user_id)
    joined = select(func.count()).select_from(SafetyCheck).join(Patient, Patient.id == SafetyCheck.patient_id)
    total = session.exec(joined.where(*conditions)).one()
    rows = session.exec(
        select(SafetyCheck, Patient.name, Patient.address)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*conditions)
        .order_by(SafetyCheck.risk_tier, SafetyCheck.id)
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [check.id for check, *_ in rows]
    marked = (
        dict(
            session.exec(
                select(CheckEvent.check_id, func.max(CheckEvent.at))
                .where(col(CheckEvent.check_id).in_(ids), CheckEvent.action == "unreachable")
                .group_by(CheckEvent.check_id)
            ).all()
        )
        if ids
        else {}
    )
    phones = _phones(session, [check.patient_id for check, *_ in rows])
    return [
        FollowUpRow(check, name, address, marked.get(check.id), phones.get(check.patient_id, []))
        for check, name, address in rows
    ], total


def _phones(session: Session, patient_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    if not patient_ids:
        return {}
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for patient_id, kind, phone in session.exec(
        select(PatientContact.patient_id, PatientContact.kind, PatientContact.phone)
        .where(col(PatientContact.patient_id).in_(patient_ids), callable_phone())  # the list is for calling
        .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id)
    ).all():
        found[patient_id].append((kind, phone))
    return found


def assign_check(
    *,
    session: Session,
    principal: Principal,
    round_id: int,
    check_id: int,
    user_id: int | None,
    scope: list[ColumnElement[bool]],
) -> SafetyCheck:
    """Give the check to a nurse (None: take it back). Nurses may only take a check themselves."""
    safety_round = get_round(session=session, round_id=round_id)
    check = find_check_in_scope(session=session, check_id=check_id, scope=scope)
    if check.round_id != round_id:
        raise NotFound("安否確認の対象が見つかりません (check not found)")
    if safety_round.state != RoundState.running:
        raise Conflict("終了した安否確認では担当を変更できません (the round is closed)")
    if principal.role == Role.nurse and user_id not in (principal.user_id, None):
        raise FieldError("看護師は自分にのみ割り当てられます (nurses may assign only themselves)", field="user_id")
    if user_id is not None:
        nurse = session.get(User, user_id)
        # One answer for a missing, inactive, non-nurse or other-prefecture account (issue 23): the 422
        # must not tell which user ids are active nurses elsewhere.
        if (
            nurse is None
            or nurse.role != Role.nurse
            or not nurse.active
            or not wall.allowed(session, principal, nurse_user_ids=[user_id])
        ):
            raise FieldError(
                "看護師のアカウントを指定してください (user_id must be an active nurse account)", field="user_id"
            )
    # Locked and read again (populate_existing): the copy in hand may predate a concurrent change.
    check = session.exec(
        select(SafetyCheck)
        .where(SafetyCheck.id == check.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if principal.role == Role.nurse and user_id is None and check.assigned_user_id not in (principal.user_id, None):
        raise FieldError("他の看護師の担当は外せません (nurses may only give back their own checks)", field="user_id")
    if check.assigned_user_id == user_id:
        return check
    check.assigned_user_id = user_id
    session.add(check)
    session.add(
        CheckEvent(
            check_id=check.id,
            round_id=round_id,
            kind="assigned" if user_id else "unassigned",
            action="assign",
            at=utcnow(),
            user_id=user_id,
            actor_name=principal.username[:100],
        )
    )
    session.flush()
    return check
