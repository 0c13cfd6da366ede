"""Rounds API: start, list, read, summarise, list checks, close; the reply review queue; sender status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from sqlalchemy import func
from sqlmodel import select

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import NotFound
from bcp_service.heartbeat import list_workers
from bcp_service.models import OutboxMessage, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.enums import RiskTier
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.registry.schemas import Page
from bcp_service.rounds import checks, visibility
from bcp_service.rounds.schemas import (
    AnswerPublic,
    CheckDetail,
    CheckEventPublic,
    CheckPublic,
    MessagePublic,
    OutboxStatus,
    RoundCreate,
    RoundPublic,
    RoundSummary,
)
from bcp_service.rounds.service import Actor, close_round, label, list_rounds, may_close, start_round
from bcp_service.rounds.summary import summarise_round
from bcp_service.rounds.targets import ensure_inside_wall
from bcp_service.rounds.timeline import list_events

router = APIRouter(prefix="/api/v1", tags=["rounds"])
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]

Starter = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]
Reader = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse))]
CountReader = Annotated[
    Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse, Role.aggregate))
]


def round_public(safety_round: SafetyRound, principal: Principal, min_cell: int = 10) -> RoundPublic:
    values = {**safety_round.model_dump(), "label": label(safety_round.drill)}
    return RoundPublic.model_validate(visibility.public_fields(principal, values, min_cell))


@router.post("/rounds", response_model=RoundPublic, status_code=status.HTTP_201_CREATED)
def create_round(
    data: RoundCreate,
    request: Request,
    response: Response,
    principal: Starter,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
):
    """Start a round: one check per targeted patient in the caller's scope, and the first messages queued."""
    ensure_inside_wall(session, principal, data.target)
    safety_round, created = start_round(
        session=session,
        actor=Actor.from_principal(principal),
        target=data.target,
        reason=data.reason,
        drill=data.drill,
        settings=request.app.state.settings,
        deadline=data.deadline,
        title=data.title,
        idempotency_key=data.idempotency_key or idempotency_key,
        kind=data.kind,
    )
    if created:
        audit(
            session=session,
            principal=principal,
            action="round.start",
            request=request,
            detail=f"round {safety_round.id}: {safety_round.target_count} patients, drill={safety_round.drill}",
        )
    else:
        response.status_code = status.HTTP_200_OK
    return round_public(safety_round, principal)


@router.get("/rounds", response_model=Page[RoundPublic])
def get_rounds(
    request: Request,
    principal: CountReader,
    session: SessionDep,
    state: RoundState | None = None,
    drill: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    rows, total = list_rounds(
        session=session, principal=principal, state=state, drill=drill, limit=limit, offset=offset
    )
    min_cell = request.app.state.settings.aggregate_min_cell
    return Page(items=[round_public(r, principal, min_cell) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/rounds/{round_id}", response_model=RoundPublic)
def get_one_round(round_id: int, request: Request, principal: CountReader, session: SessionDep):
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    return round_public(safety_round, principal, request.app.state.settings.aggregate_min_cell)


@router.get("/rounds/{round_id}/summary", response_model=RoundSummary)
def get_summary(round_id: int, request: Request, principal: CountReader, session: SessionDep):
    """Counts by answer state, risk tier, region and municipality (read from counters, not checks)."""
    min_cell = request.app.state.settings.aggregate_min_cell if principal.role == Role.aggregate else 0
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    return summarise_round(
        session=session, safety_round=safety_round, min_cell=min_cell, scope=visibility.count_scope(principal)
    )


@router.post("/rounds/{round_id}/close", response_model=RoundPublic)
def post_close(round_id: int, request: Request, principal: Starter, session: SessionDep):
    actor = Actor.from_principal(principal)
    if not may_close(actor, visibility.visible_round(session=session, principal=principal, round_id=round_id)):
        raise NotFound("安否確認が見つかりません (round not found)")
    safety_round = close_round(session=session, round_id=round_id, actor=actor)
    audit(session=session, principal=principal, action="round.close", request=request, detail=f"round {round_id}")
    return round_public(safety_round, principal)


def _check_public(row: checks.CheckRow, drill: bool) -> dict:
    return {
        **row.check.model_dump(),
        "patient_name": row.patient_name,
        "delivery": row.delivery,
        "drill": drill,
        "planned_stay": row.planned_stay,
        "planned_stay_place": row.planned_stay_place,
        "planned_stay_at": row.planned_stay_at,
    }


@router.get("/rounds/{round_id}/checks", response_model=Page[CheckPublic])
def get_checks(
    round_id: int,
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: CheckState | None = None,
    risk_tier: RiskTier | None = None,
    region_id: int | None = None,
    municipality_id: int | None = None,
    hub_id: int | None = None,
    answered: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """The patients behind the counts, in the caller's scope. Personal data: every call is audited."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    filters = checks.CheckFilters(
        state=state,
        risk_tier=risk_tier,
        region_id=region_id,
        municipality_id=municipality_id,
        hub_id=hub_id,
        answered=answered,
    )
    rows, total = checks.list_checks(
        session=session, round_id=round_id, filters=filters, scope=patient_scope(principal), limit=limit, offset=offset
    )
    audit(
        session=session,
        principal=principal,
        action="round.checks.list",
        request=request,
        patient_ids=[r.check.patient_id for r in rows],
        detail=f"round {round_id}",
    )
    items = [CheckPublic.model_validate(_check_public(r, safety_round.drill)) for r in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/rounds/{round_id}/checks/{check_id}", response_model=CheckDetail)
def get_check(round_id: int, check_id: int, request: Request, principal: Reader, session: SessionDep):
    """One check with every answer (link, SMS, reviewer...), every message sent for it, and its escalation."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    row = checks.get_check(session=session, round_id=round_id, check_id=check_id, scope=patient_scope(principal))
    answers, messages = checks.check_history(session=session, check_id=check_id)
    audit(
        session=session,
        principal=principal,
        action="round.check.read",
        request=request,
        patient_ids=[row.check.patient_id],
        detail=f"round {round_id} check {check_id}",
    )
    return CheckDetail.model_validate(
        {
            **_check_public(row, safety_round.drill),
            "answers": [AnswerPublic.model_validate(a) for a in answers],
            "messages": [MessagePublic.model_validate(m) for m in messages],
            "escalation": [CheckEventPublic.model_validate(e) for e in list_events(session=session, check_id=check_id)],
        }
    )


@router.get("/outbox/status", response_model=OutboxStatus)
def get_outbox_status(principal: Starter, session: SessionDep):
    """Messages by state, how many are due now, and each worker's heartbeat (is anything sending?)."""
    by_state = dict(session.exec(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    due = session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= utcnow())
    ).one()
    return OutboxStatus(messages=by_state, due_now=due, workers=list_workers(session=session))
