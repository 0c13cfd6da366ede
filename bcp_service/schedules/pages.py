"""Schedule pages: the schedules one may manage, their next and missed firings, create, pause, resume.

Same Access rule (admin, prefecture, hub), services and audit as the schedules API; the creator's
scope limits whom the rounds reach, as for a round started by hand.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.labels import THERAPY_LABELS, TIER_LABELS
from bcp_service.models.schedules import FiringOutcome
from bcp_service.page_helpers import page, register_home_link
from bcp_service.rounds.pages import DEADLINE_CHOICES, ManyForm, area_names
from bcp_service.rounds.target_form import TargetForm, describe_target, target_choices
from bcp_service.schedules import service
from bcp_service.schedules.routes import schedule_public
from bcp_service.schedules.schemas import ScheduleCreate, ScheduleUpdate
from bcp_service.typed_input import parse_float

router = APIRouter(prefix="/schedules", include_in_schema=False)
Manager = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]
Text = Annotated[str, Form(max_length=200)]
OUTCOME_LABELS = {"started": "開始", "missed": "見送り（時刻に実行できず）", "failed": "失敗"}
FIELD_OF = {"cron": "timing", "interval_minutes": "timing", "ends_at": "timing", "name": "name"}

register_home_link(
    "/schedules",
    "定期の安否確認",
    "毎月の訓練などの予約、一時停止、次回と見送った回",
    (Role.admin, Role.prefecture, Role.hub),
)


def _render(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    form: TargetForm | None = None,
    values: dict | None = None,
    error: str | None = None,
    created: int | None = None,
    changed: int | None = None,
    status_code: int = 200,
):
    rows, total = service.list_schedules(session=session, principal=principal, limit=200)
    missed = {}
    for schedule in rows:
        firings, count = service.list_firings(
            session=session, schedule_id=schedule.id, outcome=FiringOutcome.missed.value, limit=5
        )
        failed, failed_count = service.list_firings(
            session=session, schedule_id=schedule.id, outcome=FiringOutcome.failed.value, limit=3
        )
        missed[schedule.id] = (firings, count, failed, failed_count)
    regions, prefectures = area_names(session)
    return page(
        "schedules/list.html",
        principal,
        status_code=status_code,
        schedules=[schedule_public(session, s) for s in rows],
        total=total,
        missed=missed,
        describe=lambda t: describe_target(t, region_names=regions, prefecture_names=prefectures),
        form=form or TargetForm(),
        values=values
        or {
            "kind": "cron",
            "cron": "0 10 1 * *",
            "interval_hours": "",
            "name": "",
            "title": "",
            "drill": "1",
            "deadline_hours": "72",
        },
        choices=target_choices(session=session, principal=principal),
        error=error,
        created=created,
        changed=changed,
        outcome_labels=OUTCOME_LABELS,
        therapy_labels=THERAPY_LABELS,
        tier_labels=TIER_LABELS,
        deadlines=DEADLINE_CHOICES,
    )


@router.get("")
def schedules_page(
    request: Request, principal: Manager, session: SessionDep, created: int | None = None, changed: int | None = None
):
    return _render(request, principal, session, created=created, changed=changed)


@router.post("")
def create_schedule_form(
    request: Request,
    principal: Manager,
    session: SessionDep,
    name: Text = "",
    kind: Annotated[str, Form(max_length=10)] = "cron",
    cron: Annotated[str, Form(max_length=100)] = "",
    interval_hours: Annotated[str, Form(max_length=10)] = "",
    title: Text = "",
    drill: Annotated[str, Form(max_length=1)] = "1",
    deadline_hours: Annotated[str, Form(max_length=4)] = "72",
    prefecture_id: Annotated[str, Form(max_length=20)] = "",
    region_id: ManyForm = (),
    therapy: ManyForm = (),
    risk_tier: ManyForm = (),
):
    """Create a recurring round (the same service and audit as POST /api/v1/schedules)."""
    form = TargetForm(
        prefecture_id=prefecture_id, region_ids=list(region_id), therapies=list(therapy), risk_tiers=list(risk_tier)
    )
    values = {
        "kind": kind,
        "cron": cron,
        "interval_hours": interval_hours,
        "name": name,
        "title": title,
        "drill": drill,
        "deadline_hours": deadline_hours,
    }
    target = form.to_target(target_choices(session=session, principal=principal))
    if not name.strip():
        form.errors["name"] = "名前を入力してください"
    timing: dict = {}
    if kind == "interval":
        try:
            timing["interval_minutes"] = round(parse_float(interval_hours) * 60)  # full-width 「６」 too
        except ValueError:
            form.errors["timing"] = "間隔を時間の数字で入力してください（例: 6）"
    else:
        timing["cron"] = cron.strip()
    if drill not in ("1", "0") or deadline_hours not in DEADLINE_CHOICES:
        form.errors["drill"] = "訓練か本番か、締め切りを選んでください"
    if target is None or form.errors:
        return _render(request, principal, session, form=form, values=values, status_code=422)
    try:
        data = ScheduleCreate(
            name=name,
            **timing,
            target=target,
            drill=drill == "1",
            title=title.strip() or None,
            deadline_hours=float(deadline_hours),
        )
        schedule = service.create_schedule(
            session=session, principal=principal, data=data, settings=request.app.state.settings
        )
    except ValidationError as exc:
        form.errors["timing"] = "実行の時刻の指定が正しくありません（crontab 形式の5項目、または1時間以上の間隔）"
        if any(e["loc"] and e["loc"][0] == "name" for e in exc.errors()):
            form.errors["name"] = "名前は200文字以内で入力してください"
        return _render(request, principal, session, form=form, values=values, status_code=422)
    except ServiceError as exc:
        session.rollback()
        form.errors[FIELD_OF.get(exc.field or "", "timing")] = exc.message
        return _render(request, principal, session, form=form, values=values, status_code=exc.status_code)
    audit(
        session=session,
        principal=principal,
        action="schedule.create",
        request=request,
        detail=f"schedule {schedule.id}",
    )
    return RedirectResponse(f"/schedules?created={schedule.id}#s{schedule.id}", status_code=status.HTTP_303_SEE_OTHER)


def _set_active(request: Request, principal: Principal, session: Session, schedule_id: int, active: bool):
    data = ScheduleUpdate(active=active)
    service.update_schedule(
        session=session, principal=principal, schedule_id=schedule_id, data=data, settings=request.app.state.settings
    )
    audit(
        session=session,
        principal=principal,
        action="schedule.update",
        request=request,
        detail=f"schedule {schedule_id}: active",
    )
    return RedirectResponse(f"/schedules?changed={schedule_id}#s{schedule_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{schedule_id}/pause")
def pause_schedule(schedule_id: int, request: Request, principal: Manager, session: SessionDep):
    return _set_active(request, principal, session, schedule_id, False)


@router.post("/{schedule_id}/resume")
def resume_schedule(schedule_id: int, request: Request, principal: Manager, session: SessionDep):
    """Switched back on, it counts fire times from now: the ones while paused are neither run nor missed."""
    return _set_active(request, principal, session, schedule_id, True)
