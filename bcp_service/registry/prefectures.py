"""Prefectures are data (issue 23): an admin adds one with its name and JIS X 0401 code, on the API or
the admin page, never by SQL. Audited with its values."""

from __future__ import annotations

from fastapi import Request
from sqlmodel import Session, or_, select

from bcp_service.auth.principal import Principal
from bcp_service.errors import Conflict
from bcp_service.models import Prefecture
from bcp_service.registry.changes import record_change
from bcp_service.registry.schemas import PrefectureCreate


def list_prefectures(*, session: Session) -> list[Prefecture]:
    return list(session.exec(select(Prefecture).order_by(Prefecture.code)).all())


def create_prefecture(*, session: Session, principal: Principal, data: PrefectureCreate,
                      request: Request | None = None) -> Prefecture:
    taken = session.exec(select(Prefecture).where(or_(Prefecture.code == data.code, Prefecture.name == data.name))).first()
    if taken is not None:
        field = "code" if taken.code == data.code else "name"
        what = "都道府県コード" if field == "code" else "都道府県名"
        raise Conflict(f"この{what}は登録済みです (prefecture {field} already exists)", field=field)
    prefecture = Prefecture(code=data.code, name=data.name)
    session.add(prefecture)
    session.flush()
    record_change(session, principal, request, action="prefecture.create", key="prefecture_id", row_id=prefecture.id,
                  before=None, after={"code": prefecture.code, "name": prefecture.name})
    return prefecture
