"""Escalation API: a round's escalation, a check's steps, the follow-up queue, assignment, the report CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.clock import aware
from bcp_service.csv_export import csv_lines
from bcp_service.db import SessionDep
from bcp_service.escalation import followup, report
from bcp_service.escalation.jobs import ESCALATING_STATES
from bcp_service.escalation.policy import NOTICE_KIND, EscalationPolicy, policy_for, tier_policies
from bcp_service.escalation.schemas import (
    AssignRequest,
    CheckEscalation,
    CheckEventPublic,
    FollowUpItem,
    RoundEscalation,
)
from bcp_service.models import CheckEvent, Patient, Prefecture, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import RoundState
from bcp_service.registry.schemas import Page
from bcp_service.rounds import visibility
from bcp_service.rounds.checks import get_check
from bcp_service.rounds.service import get_round
from bcp_service.rounds.timeline import list_events

router = APIRouter(prefix="/api/v1", tags=["escalation"])
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]
Reader = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse))]
CountReader = Annotated[
    Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse, Role.aggregate))
]
Assigner = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.nurse))]


def _policy(request: Request, safety_round: SafetyRound, tier: str | None = None) -> EscalationPolicy:
    return policy_for(safety_round.escalation_policy, request.app.state.settings, tier, safety_round.kind)


def _running(safety_round: SafetyRound) -> bool:
    return safety_round.state == RoundState.running and aware(safety_round.expires_at) > utcnow()


def check_escalation(
    check: SafetyCheck, safety_round: SafetyRound, policy: EscalationPolicy, events: list[CheckEvent]
) -> CheckEscalation:
    upcoming = policy.step(check.escalation_step)
    active = upcoming is not None and check.state in ESCALATING_STATES and _running(safety_round)
    due = aware(safety_round.started_at) + timedelta(minutes=upcoming.after_minutes) if active else None
    return CheckEscalation(
        check_id=check.id,
        round_id=check.round_id,
        state=check.state,
        escalation_step=check.escalation_step,
        next_action=upcoming.action.value if active else None,
        next_action_at=due,
        assigned_user_id=check.assigned_user_id,
        events=[CheckEventPublic.model_validate(e) for e in events],
    )


@router.get("/rounds/{round_id}/escalation", response_model=RoundEscalation)
def get_round_escalation(round_id: int, request: Request, principal: CountReader, session: SessionDep):
    """The round's policy, when each step falls due, how many checks took each, and the follow-up count."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    policy = _policy(request, safety_round)
    tiers = tier_policies(safety_round.escalation_policy, request.app.state.settings, safety_round.kind)
    started = aware(safety_round.started_at)
    # Counted over the caller's own patients (rounds.visibility), as the round's other counts are.
    scope = visibility.count_scope(principal)
    mine = [] if scope is None else [col(SafetyCheck.patient_id).in_(select(Patient.id).where(*scope))]
    taken = dict(
        session.exec(
            select(CheckEvent.action, func.count())
            .join(SafetyCheck, SafetyCheck.id == CheckEvent.check_id)
            .where(CheckEvent.round_id == round_id, CheckEvent.kind == "escalation", *mine)
            .group_by(CheckEvent.action)
        ).all()
    )
    queue = [SafetyCheck.round_id == round_id, col(SafetyCheck.state).in_(followup.FOLLOW_UP_STATES), *mine]
    follow_up = session.exec(select(func.count()).select_from(SafetyCheck).where(*queue)).one()
    unassigned = session.exec(
        select(func.count()).select_from(SafetyCheck).where(*queue, col(SafetyCheck.assigned_user_id).is_(None))
    ).one()
    if principal.role == Role.aggregate:
        # Small cells hidden; "unassigned" never shown (follow-up minus it would give the assigned count).
        small = request.app.state.settings.aggregate_min_cell
        taken = {action: (n if n == 0 or n >= small else None) for action, n in taken.items()}
        follow_up = follow_up if follow_up == 0 or follow_up >= small else None
        unassigned = None
    return RoundEscalation(
        round_id=round_id,
        running=_running(safety_round),
        steps=list(policy.steps),
        step_times=[started + timedelta(minutes=s.after_minutes) for s in policy.steps],
        taken=taken,
        follow_up=follow_up,
        unassigned=unassigned,
        tiers={tier or "all": list(p.steps) for tier, p in tiers.items()},
        tier_times={
            tier or "all": [started + timedelta(minutes=s.after_minutes) for s in p.steps] for tier, p in tiers.items()
        },
        **_quiet_hours(session, safety_round, request.app.state.settings),
    )


def _quiet_hours(session: Session, safety_round, settings) -> dict:
    """A notice round's quiet hours as it keeps them (per prefecture, by name), else none."""
    if safety_round.kind != NOTICE_KIND:
        return {"quiet_hours": None, "quiet_hours_by_prefecture": {}}
    kept = (safety_round.quiet_hours or {}).get("prefectures") or {}
    names = (
        {
            str(p.id): p.name
            for p in session.exec(select(Prefecture).where(col(Prefecture.id).in_([int(key) for key in kept]))).all()
        }
        if kept
        else {}
    )
    by_name = {names.get(key, key): (hours[0], hours[1]) for key, hours in kept.items()}
    first = next(iter(by_name.values()), tuple(settings.notice_quiet_hours))
    return {"quiet_hours": first, "quiet_hours_by_prefecture": by_name}


@router.get("/rounds/{round_id}/checks/{check_id}/escalation", response_model=CheckEscalation)
def get_check_escalation(round_id: int, check_id: int, request: Request, principal: Reader, session: SessionDep):
    """The check's escalation: steps taken with their times, the next one, and assignments."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    row = get_check(session=session, round_id=round_id, check_id=check_id, scope=patient_scope(principal))
    audit(
        session=session,
        principal=principal,
        action="round.check.escalation",
        request=request,
        patient_ids=[row.check.patient_id],
        detail=f"round {round_id} check {check_id}",
    )
    return check_escalation(
        row.check,
        safety_round,
        _policy(request, safety_round, row.check.risk_tier),
        list_events(session=session, check_id=check_id),
    )


@router.get("/rounds/{round_id}/follow-up", response_model=Page[FollowUpItem])
def get_follow_up(
    round_id: int,
    request: Request,
    principal: Reader,
    session: SessionDep,
    assigned: bool | None = None,
    mine: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """Checks escalation gave up on (unreachable): someone has to phone or go. Most urgent first."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    rows, total = followup.list_follow_up(
        session=session,
        round_id=round_id,
        scope=patient_scope(principal),
        assigned=assigned,
        assigned_user_id=principal.user_id if mine else None,
        limit=limit,
        offset=offset,
    )
    audit(
        session=session,
        principal=principal,
        action="round.follow_up.list",
        request=request,
        patient_ids=[r.check.patient_id for r in rows],
        detail=f"round {round_id}",
    )
    items = [
        FollowUpItem(
            check_id=r.check.id,
            round_id=round_id,
            drill=safety_round.drill,
            patient_id=r.check.patient_id,
            patient_name=r.patient_name,
            address=r.address,
            phones=[{"kind": k, "phone": p} for k, p in r.phones],
            risk_tier=r.check.risk_tier,
            municipality_id=r.check.municipality_id,
            state=r.check.state,
            hours_left=r.check.hours_left,
            unreachable_at=r.unreachable_at,
            assigned_user_id=r.check.assigned_user_id,
        )
        for r in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/rounds/{round_id}/checks/{check_id}/assign", response_model=CheckEscalation)
def post_assign(
    round_id: int, check_id: int, data: AssignRequest, request: Request, principal: Assigner, session: SessionDep
):
    """Give a check to a nurse (``user_id``), or take it back (``null``). Nurses may take checks themselves;
    the assigned nurse then sees the patient while the round runs."""
    check = followup.assign_check(
        session=session,
        principal=principal,
        round_id=round_id,
        check_id=check_id,
        user_id=data.user_id,
        scope=patient_scope(principal),
    )
    audit(
        session=session,
        principal=principal,
        action="round.check.assign",
        request=request,
        patient_ids=[check.patient_id],
        detail=f"round {round_id} check {check_id} user {data.user_id}",
    )
    safety_round = get_round(session=session, round_id=round_id)
    return check_escalation(
        check, safety_round, _policy(request, safety_round), list_events(session=session, check_id=check_id)
    )


@router.get("/rounds/{round_id}/report.csv", response_class=StreamingResponse)
def get_report_csv(round_id: int, request: Request, principal: Reader, session: SessionDep):
    """Every check in the caller's scope with its answer history and escalation steps (UTF-8 with BOM)."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    scope = patient_scope(principal)
    audit(
        session=session,
        principal=principal,
        action="round.report.export",
        request=request,
        patient_ids=report.list_patient_ids(session=session, round_id=round_id, scope=scope),
        detail=f"round {round_id}",
    )
    stamp = datetime.now(request.app.state.settings.tz).strftime("%Y%m%d-%H%M")
    lines = csv_lines(report.HEADER, report.iter_report_rows(session=session, safety_round=safety_round, scope=scope))
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="round-{round_id}-report-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
