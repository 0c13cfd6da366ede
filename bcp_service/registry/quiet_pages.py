"""The quiet-hours page (issue 25.4): a prefecture officer sets when advance notices may not text or call
families in the prefecture (an admin, for any prefecture). The same function as
``PUT /api/v1/prefectures/{id}/quiet-hours``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.page_helpers import page, register_home_link
from bcp_service.registry import prefectures

router = APIRouter(prefix="/settings", include_in_schema=False)
SETTERS = (Role.admin, Role.prefecture)
Setter = Annotated[Principal, Depends(Access(*SETTERS))]
Time = Annotated[str, Form(max_length=10)]

register_home_link(
    "/settings/quiet-hours",
    "事前連絡の夜間停止",
    "台風・計画停電などの事前連絡で、家族への連絡と電話をしない時間帯",
    SETTERS,
)


def _page(
    session: Session,
    principal: Principal,
    request: Request,
    *,
    errors: dict | None = None,
    values: dict | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = [
        p for p in prefectures.list_prefectures(session=session) if prefectures.may_set_quiet_hours(principal, p.id)
    ]
    default = request.app.state.settings.notice_quiet_hours
    return page(
        "registry/quiet_hours.html",
        principal,
        status_code=status_code,
        prefectures=rows,
        default=default,
        errors=errors or {},
        values=values or {},
        notice=notice,
    )


@router.get("/quiet-hours")
def quiet_hours_page(request: Request, principal: Setter, session: SessionDep, saved: str = ""):
    return _page(session, principal, request, notice="夜間停止の時間帯を保存しました。" if saved else None)


@router.post("/quiet-hours")
def save_quiet_hours(
    request: Request,
    principal: Setter,
    session: SessionDep,
    prefecture_id: Annotated[str, Form(max_length=12)] = "",
    start: Time = "",
    end: Time = "",
):
    values = {"prefecture_id": prefecture_id, "start": start, "end": end}
    if not prefecture_id.isdigit():
        return _page(
            session, principal, request, errors={"form": "都道府県を選んでください。"}, values=values, status_code=422
        )
    try:
        with session.begin_nested():
            prefectures.set_quiet_hours(
                session=session,
                principal=principal,
                prefecture_id=int(prefecture_id),
                start=start,
                end=end,
                request=request,
            )
    except ServiceError as exc:
        return _page(
            session,
            principal,
            request,
            errors={int(prefecture_id): exc.message},
            values=values,
            status_code=exc.status_code,
        )
    return RedirectResponse("/settings/quiet-hours?saved=1", status_code=303)
