"""Schedules API (recurring rounds); the system status moved to ``ops/routes.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlmodel import Session

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.models import RoundSchedule
from bcp_service.models.base import utcnow
from bcp_service.models.schedules import FiringOutcome
from bcp_service.registry.schemas import Page
from bcp_service.schedules import service
from bcp_service.schedules.schemas import (
    FiringPublic,
    ScheduleCreate,
    SchedulePublic,
    ScheduleUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["schedules"])
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]
Manager = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]


def schedule_public(session: Session, schedule: RoundSchedule) -> SchedulePublic:
    last = service.get_last_firing(session=session, schedule_id=schedule.id)
    upcoming = service.list_next_fire_times(schedule, last_fire_time=last.fire_time if last else None, now=utcnow())
    return SchedulePublic.model_validate(
        {
            **schedule.model_dump(),
            "next_fire_times": upcoming,
            "last_firing": FiringPublic.model_validate(last) if last else None,
        }
    )


@router.post("/schedules", response_model=SchedulePublic, status_code=status.HTTP_201_CREATED)
def post_schedule(data: ScheduleCreate, request: Request, principal: Manager, session: SessionDep):
    """Create a recurring round (crontab line or interval, Asia/Tokyo by default). Rounds it starts reach
    only patients in the creator's scope."""
    schedule = service.create_schedule(
        session=session, principal=principal, data=data, settings=request.app.state.settings
    )
    audit(
        session=session,
        principal=principal,
        action="schedule.create",
        request=request,
        detail=f"schedule {schedule.id}",
    )
    return schedule_public(session, schedule)


@router.get("/schedules", response_model=Page[SchedulePublic])
def get_schedules(
    principal: Manager, session: SessionDep, active: bool | None = None, limit: Limit = 50, offset: Offset = 0
):
    rows, total = service.list_schedules(
        session=session, principal=principal, active=active, limit=limit, offset=offset
    )
    return Page(items=[schedule_public(session, s) for s in rows], total=total, limit=limit, offset=offset)


@router.get("/schedules/{schedule_id}", response_model=SchedulePublic)
def get_one_schedule(schedule_id: int, principal: Manager, session: SessionDep):
    return schedule_public(session, service.get_schedule(session=session, principal=principal, schedule_id=schedule_id))


@router.patch("/schedules/{schedule_id}", response_model=SchedulePublic)
def patch_schedule(schedule_id: int, data: ScheduleUpdate, request: Request, principal: Manager, session: SessionDep):
    """Change a schedule; the running scheduler sees it at its next tick. Changing the timing (or
    switching it back on) starts counting fire times from now."""
    schedule = service.update_schedule(
        session=session, principal=principal, schedule_id=schedule_id, data=data, settings=request.app.state.settings
    )
    audit(
        session=session,
        principal=principal,
        action="schedule.update",
        request=request,
        detail=f"schedule {schedule_id}: {', '.join(sorted(data.model_fields_set))}",
    )
    return schedule_public(session, schedule)


@router.delete("/schedules/{schedule_id}", response_model=SchedulePublic)
def delete_schedule(schedule_id: int, request: Request, principal: Manager, session: SessionDep):
    """Stop and hide a schedule. Its firings and rounds stay."""
    schedule = service.delete_schedule(session=session, principal=principal, schedule_id=schedule_id)
    audit(
        session=session,
        principal=principal,
        action="schedule.delete",
        request=request,
        detail=f"schedule {schedule_id}",
    )
    return schedule_public(session, schedule)


@router.get("/schedules/{schedule_id}/firings", response_model=Page[FiringPublic])
def get_firings(
    schedule_id: int,
    principal: Manager,
    session: SessionDep,
    outcome: FiringOutcome | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """Every fire time acted on: started (with its round), missed (misfire policy) or failed (with why)."""
    service.get_schedule(session=session, principal=principal, schedule_id=schedule_id)
    rows, total = service.list_firings(
        session=session, schedule_id=schedule_id, outcome=outcome.value if outcome else None, limit=limit, offset=offset
    )
    return Page(items=[FiringPublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)
