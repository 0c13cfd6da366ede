"""Reading checks: the people behind a round's counts. Personal data: always scoped, audited by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bcp_service.errors import NotFound
from bcp_service.models import CheckAnswer, OutboxMessage, Patient, SafetyCheck
from bcp_service.models.enums import RiskTier
from bcp_service.models.rounds import CheckState


@dataclass
class CheckFilters:
    state: CheckState | None = None
    risk_tier: RiskTier | None = None
    region_id: int | None = None
    municipality_id: int | None = None
    hub_id: int | None = None
    answered: bool | None = None


@dataclass(frozen=True)
class CheckRow:
    check: SafetyCheck
    patient_name: str
    delivery: str | None
    # Where the patient said they will stay (the latest advance-notice answer, in the registry).
    planned_stay: str | None = None
    planned_stay_place: str | None = None
    planned_stay_at: datetime | None = None


PATIENT_COLUMNS = (Patient.name, Patient.planned_stay, Patient.planned_stay_place, Patient.planned_stay_at)


def _conditions(round_id: int, filters: CheckFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [SafetyCheck.round_id == round_id]
    if filters.state is not None:
        conditions.append(SafetyCheck.state == filters.state)
    if filters.risk_tier is not None:
        conditions.append(SafetyCheck.risk_tier == filters.risk_tier)
    if filters.region_id is not None:
        conditions.append(SafetyCheck.region_id == filters.region_id)
    if filters.municipality_id is not None:
        conditions.append(SafetyCheck.municipality_id == filters.municipality_id)
    if filters.hub_id is not None:
        conditions.append(SafetyCheck.hub_id == filters.hub_id)
    if filters.answered is not None:
        answered = col(SafetyCheck.last_answer_at).is_not(None)
        conditions.append(answered if filters.answered else ~answered)
    return conditions


def list_checks(
    *,
    session: Session,
    round_id: int,
    filters: CheckFilters,
    scope: list[ColumnElement[bool]],
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CheckRow], int]:
    """Checks in the caller's scope; the most urgent first (tier, then those who asked for help)."""
    conditions = [*_conditions(round_id, filters), *scope]
    base = select(SafetyCheck, *PATIENT_COLUMNS).join(Patient, Patient.id == SafetyCheck.patient_id).where(*conditions)
    total = session.exec(
        select(func.count())
        .select_from(SafetyCheck)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*conditions)
    ).one()
    rows = session.exec(base.order_by(SafetyCheck.risk_tier, SafetyCheck.id).limit(limit).offset(offset)).all()
    delivery = latest_delivery(session, [row[0].id for row in rows])
    return [CheckRow(check, name, delivery.get(check.id), *plan) for check, name, *plan in rows], total


def latest_delivery(session: Session, check_ids: list[int]) -> dict[int, str]:
    if not check_ids:
        return {}
    latest = (
        select(func.max(OutboxMessage.id))
        .where(col(OutboxMessage.check_id).in_(check_ids))
        .group_by(OutboxMessage.check_id)
    )
    return dict(
        session.exec(select(OutboxMessage.check_id, OutboxMessage.state).where(col(OutboxMessage.id).in_(latest))).all()
    )


def get_check(*, session: Session, round_id: int, check_id: int, scope: list[ColumnElement[bool]]) -> CheckRow:
    row = session.exec(
        select(SafetyCheck, *PATIENT_COLUMNS)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.id == check_id, SafetyCheck.round_id == round_id, *scope)
    ).first()
    if row is None:
        raise NotFound("安否確認の対象が見つかりません (check not found)")
    check, name, *plan = row
    return CheckRow(check, name, latest_delivery(session, [check.id]).get(check.id), *plan)


def check_history(*, session: Session, check_id: int) -> tuple[list[CheckAnswer], list[OutboxMessage]]:
    answers = session.exec(
        select(CheckAnswer).where(CheckAnswer.check_id == check_id).order_by(CheckAnswer.observed_at, CheckAnswer.id)
    ).all()
    messages = session.exec(
        select(OutboxMessage).where(OutboxMessage.check_id == check_id).order_by(OutboxMessage.id)
    ).all()
    return list(answers), list(messages)


def find_check_in_scope(*, session: Session, check_id: int, scope: list[ColumnElement[bool]]) -> SafetyCheck:
    check = session.exec(
        select(SafetyCheck)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.id == check_id, *scope)
    ).first()
    if check is None:
        raise NotFound("安否確認の対象が見つかりません (check not found)")
    return check
