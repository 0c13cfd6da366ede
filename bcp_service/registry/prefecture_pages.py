"""The admin page of prefectures: the list, and a form to add one (name and JIS code), as
``POST /api/v1/prefectures`` does. Prefectures are data, not SQL (issue 23)."""

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
from bcp_service.registry.page_forms import validate
from bcp_service.registry.schemas import PrefectureCreate

router = APIRouter(prefix="/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(Access(Role.admin))]
Text = Annotated[str, Form(max_length=100)]

register_home_link("/admin/prefectures", "都道府県", "都道府県の一覧と追加（名称と都道府県コード）", (Role.admin,))


def _page(
    session: Session,
    principal: Principal,
    *,
    errors: dict | None = None,
    values: dict | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        "registry/prefectures.html",
        principal,
        status_code=status_code,
        prefectures=prefectures.list_prefectures(session=session),
        errors=errors or {},
        values=values or {},
        notice=notice,
    )


@router.get("/prefectures")
def prefectures_page(principal: Admin, session: SessionDep, added: str = ""):
    return _page(session, principal, notice="都道府県を追加しました。" if added else None)


@router.post("/prefectures")
def add_prefecture_from_page(request: Request, principal: Admin, session: SessionDep, code: Text = "", name: Text = ""):
    values = {"code": code.strip(), "name": name.strip()}
    data, errors = validate(PrefectureCreate, values)
    if data is None:
        return _page(session, principal, errors=errors, values=values, status_code=422)
    try:
        with session.begin_nested():
            prefectures.create_prefecture(session=session, principal=principal, data=data, request=request)
    except ServiceError as exc:
        return _page(
            session, principal, errors={exc.field or "name": exc.message}, values=values, status_code=exc.status_code
        )
    return RedirectResponse("/admin/prefectures?added=1", status_code=303)
