"""Prefectures are data (issue 23): an admin adds one with its name and JIS X 0401 code, on the API or
the admin page, never by SQL. Audited with its values."""

from __future__ import annotations

import re
import unicodedata

from fastapi import Request
from sqlmodel import Session, or_, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.errors import Conflict, FieldError, NotFound
from bcp_service.models import Prefecture
from bcp_service.registry.changes import record_change
from bcp_service.registry.schemas import PrefectureCreate


def list_prefectures(*, session: Session) -> list[Prefecture]:
    return list(session.exec(select(Prefecture).order_by(Prefecture.code)).all())


def create_prefecture(
    *, session: Session, principal: Principal, data: PrefectureCreate, request: Request | None = None
) -> Prefecture:
    taken = session.exec(
        select(Prefecture).where(or_(Prefecture.code == data.code, Prefecture.name == data.name))
    ).first()
    if taken is not None:
        field = "code" if taken.code == data.code else "name"
        what = "都道府県コード" if field == "code" else "都道府県名"
        raise Conflict(f"この{what}は登録済みです (prefecture {field} already exists)", field=field)
    prefecture = Prefecture(code=data.code, name=data.name)
    session.add(prefecture)
    session.flush()
    record_change(
        session,
        principal,
        request,
        action="prefecture.create",
        key="prefecture_id",
        row_id=prefecture.id,
        before=None,
        after={"code": prefecture.code, "name": prefecture.name},
    )
    return prefecture


def set_quiet_hours(
    *,
    session: Session,
    principal: Principal,
    prefecture_id: int,
    start: str | None,
    end: str | None,
    request: Request | None = None,
) -> Prefecture:
    """Set (or, both empty, clear back to the service's default) the prefecture's quiet hours for
    advance notices (rounds/quiet.py). An admin, or the prefecture's own officer; audited."""
    prefecture = session.get(Prefecture, prefecture_id)
    if prefecture is None or not may_set_quiet_hours(principal, prefecture_id):
        raise NotFound("都道府県が見つかりません (prefecture not found)")
    start, end = normalise_time(start), normalise_time(end)
    if (start is None) != (end is None):
        raise FieldError("開始と終了の両方を入力してください（空にすると既定に戻ります）", field="end")
    if start is not None and end is not None:
        problem = validate_hours(start, end)
        if problem:
            raise FieldError(problem, field="start")
    before = {"quiet_start": prefecture.quiet_start, "quiet_end": prefecture.quiet_end}
    prefecture.quiet_start, prefecture.quiet_end = start, end
    session.add(prefecture)
    session.flush()
    record_change(
        session,
        principal,
        request,
        action="prefecture.quiet_hours",
        key="prefecture_id",
        row_id=prefecture.id,
        before=before,
        after={"quiet_start": start, "quiet_end": end},
    )
    return prefecture


HOURS = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def validate_hours(start: str, end: str) -> str | None:
    """A Japanese message if the hours are not two "HH:MM" times (full-width digits and "：" taken), else None."""
    for value in (start, end):
        if not HOURS.match(value):
            return "時刻は 21:00 のように「時:分」（24時間制、00:00〜23:59）で入力してください。"
    return None


def normalise_time(value: str | None) -> str | None:
    """「７：００」「7:00」→ "07:00"; empty → None."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    if not value:
        return None
    hour, _, minute = value.partition(":")
    return f"{int(hour):02d}:{minute}" if hour.isdigit() and len(hour) <= 2 else value


def may_set_quiet_hours(principal: Principal, prefecture_id: int) -> bool:
    return principal.role == Role.admin or (principal.role == Role.prefecture and principal.scope_id == prefecture_id)
