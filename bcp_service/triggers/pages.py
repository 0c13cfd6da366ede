"""The triggers page: pending starts (cancel one before it sends) and every decision with its reason
(why a bulletin did or did not start a round). Same Access (admin, prefecture), reads and audit as
the triggers API: the lists are read by the API's own route functions, the cancel by the same service.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session, col, select

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.clock import aware
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.labels import HAZARD_LABELS
from bcp_service.models import Municipality
from bcp_service.page_helpers import page, register_home_link
from bcp_service.triggers import service
from bcp_service.triggers.events import Hazard, severity_label
from bcp_service.triggers.routes import clock, get_decisions, get_records

router = APIRouter(prefix="/triggers", include_in_schema=False)
Reader = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture))]
PAGE_SIZE = 50
ACTION_LABELS = {
    "schedule_round": "安否確認を予約",
    "ignore": "開始しない",
    "cancel_pending": "予約を中止",
    "update_pending": "予約を更新",
}
RECORD_STATES = {
    "pending": "送信待ち",
    "started": "開始済み",
    "cancelled": "中止",
    "failed": "失敗",
    "ignored": "対象外",
}

register_home_link(
    "/triggers",
    "災害トリガー",
    "地震情報などで安否確認を自動で始めたか、始めなかった理由。送信前の中止",
    (Role.admin, Role.prefecture),
)


def _names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(
        session.exec(select(Municipality.code, Municipality.name).where(col(Municipality.code).in_(codes))).all()
    )


def _severity(hazard: str | None, rank: int) -> str:
    try:
        return severity_label(Hazard(hazard or "earthquake"), rank)
    except ValueError:
        return str(rank)


def _minutes_until(moment, now) -> int | None:
    if moment is None:
        return None
    seconds = (aware(moment) - aware(now)).total_seconds()
    return math.ceil(seconds / 60) if seconds > 0 else None


def _render(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    action: str = "",
    offset: int = 0,
    cancelled: int | None = None,
    error: str | None = None,
    status_code: int = 200,
):
    pending = get_records(principal, session, state="pending", event_id=None, limit=PAGE_SIZE, offset=0)
    decisions = get_decisions(
        principal,
        session,
        event_id=None,
        action=action if action in ACTION_LABELS else None,
        reason=None,
        drill=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    codes = {c for r in pending.items for c in r.municipalities} | {
        c for d in decisions.items for c in (*d.municipalities, *d.excluded)
    }
    return page(
        "triggers/list.html",
        principal,
        status_code=status_code,
        pending=pending,
        decisions=decisions,
        names=_names(session, codes),
        action=action,
        offset=offset,
        page_size=PAGE_SIZE,
        cancelled=cancelled,
        error=error,
        minutes_until=partial(_minutes_until, now=clock(request)),
        action_labels=ACTION_LABELS,
        hazard_labels=HAZARD_LABELS,
        record_states=RECORD_STATES,
        severity=_severity,
    )


@router.get("")
def triggers_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    action: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    cancelled: int | None = None,
):
    return _render(request, principal, session, action=action, offset=offset, cancelled=cancelled)


@router.post("/events/{record_id}/cancel")
def cancel_form(record_id: int, request: Request, principal: Reader, session: SessionDep):
    """Stop a pending start (as POST /api/v1/triggers/events/{id}/cancel); too late once it has started."""
    try:
        service.cancel_pending_by_person(
            session=session, record_id=record_id, actor_name=principal.username, principal=principal, now=clock(request)
        )
    except ServiceError as exc:
        session.rollback()
        return _render(request, principal, session, error=exc.message, status_code=exc.status_code)
    audit(
        session=session,
        principal=principal,
        action="trigger.cancel",
        request=request,
        detail=f"trigger record {record_id}",
    )
    return RedirectResponse(f"/triggers?cancelled={record_id}", status_code=status.HTTP_303_SEE_OTHER)
