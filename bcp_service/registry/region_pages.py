"""Pages to redraw the home-care regions (issue 27.1): the prefecture officer (or an admin) moves a
municipality to another region, creates, renames, merges and splits regions, each from a date, and
reads the history of every change. The same service as the scheduler (``registry/region_changes.py``),
which calls the regions' own service functions (``registry/areas.py``) that the API uses.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.models import HomeCareRegion, HomeCareRegionMunicipality, Municipality, Prefecture, RegionChange, User
from bcp_service.page_helpers import page, register_home_link
from bcp_service.registry import region_changes
from bcp_service.registry.coverage import find_coverage_gaps
from bcp_service.registry.page_forms import caller_prefecture
from bcp_service.typed_input import parse_date

router = APIRouter(prefix="/registry/regions", include_in_schema=False)
DRAWERS = (Role.admin, Role.prefecture)
Drawer = Annotated[Principal, Depends(Access(*DRAWERS))]
FORM_FIELDS = ("kind", "effective_on", "municipality_id", "to_region_id", "region_id", "into_region_id", "name")

register_home_link(
    "/registry/regions/redraw",
    "在宅医療圏の線引き",
    "市町村の移動、圏域の新設・名称変更・統合・分割（効力の日付つき）と変更の履歴",
    DRAWERS,
)


def _prefecture(session: Session, principal: Principal, chosen: str) -> int | None:
    own = caller_prefecture(session, principal)
    if own is not None:
        return own
    if chosen.isdigit() and session.get(Prefecture, int(chosen)) is not None:
        return int(chosen)
    first = session.exec(select(Prefecture.id).order_by(Prefecture.code)).first()
    return first


def _map(
    session: Session, prefecture_id: int | None
) -> tuple[list[HomeCareRegion], dict[int, list[Municipality]], list[Municipality], list[Municipality]]:
    if prefecture_id is None:
        return [], {}, [], []
    regions = list(
        session.exec(
            select(HomeCareRegion).where(HomeCareRegion.prefecture_id == prefecture_id).order_by(HomeCareRegion.name)
        ).all()
    )
    towns = list(
        session.exec(
            select(Municipality).where(Municipality.prefecture_id == prefecture_id).order_by(Municipality.code)
        ).all()
    )
    by_id = {t.id: t for t in towns}
    members: dict[int, list[Municipality]] = {r.id: [] for r in regions}
    placed: set[int] = set()
    if regions:
        for region_id, town_id in session.exec(
            select(HomeCareRegionMunicipality.region_id, HomeCareRegionMunicipality.municipality_id).where(
                col(HomeCareRegionMunicipality.region_id).in_(list(members))
            )
        ):
            if town_id in by_id:
                members[region_id].append(by_id[town_id])
                placed.add(town_id)
    for region_id in members:
        members[region_id].sort(key=lambda t: t.code)
    return regions, members, towns, [t for t in towns if t.id not in placed]


def _redraw_page(
    session: Session,
    principal: Principal,
    prefecture_id: int | None,
    *,
    values: dict | None = None,
    error: str | None = None,
    error_field: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    regions, members, towns, unplaced = _map(session, prefecture_id)
    report = find_coverage_gaps(session=session, prefecture_id=prefecture_id) if prefecture_id is not None else None
    gaps = {g.region_id: g.missing for g in report.regions} if report else {}
    pending = (
        [
            c
            for c in region_changes.list_changes(session=session, prefecture_id=prefecture_id)
            if c.status == "scheduled"
        ]
        if prefecture_id is not None
        else []
    )
    prefectures = (
        list(session.exec(select(Prefecture).order_by(Prefecture.code)).all()) if principal.role == Role.admin else []
    )
    return page(
        "registry/region_redraw.html",
        principal,
        status_code=status_code,
        regions=regions,
        members=members,
        towns=towns,
        unplaced=unplaced,
        gaps=gaps,
        pending=pending,
        kinds=region_changes.KINDS,
        prefectures=prefectures,
        prefecture_id=prefecture_id,
        values=values or {},
        error=error,
        error_field=error_field,
        notice=notice,
        today=region_changes.today().isoformat(),
    )


@router.get("/redraw")
def redraw_page(
    principal: Drawer,
    session: SessionDep,
    prefecture_id: Annotated[str, Query(max_length=12)] = "",
    saved: Annotated[str, Query(max_length=12)] = "",
):
    chosen = _prefecture(session, principal, prefecture_id)
    notice = None
    if saved.isdigit():
        change = session.get(RegionChange, int(saved))
        if change is not None and change.prefecture_id == chosen:
            notice = (
                f"{change.summary}: 適用しました。{change.outcome or ''}"
                if change.status == "applied"
                else f"{change.summary}: {change.effective_on.isoformat()} に適用する予定として登録しました。"
            )
    return _redraw_page(session, principal, chosen, notice=notice)


def parse_day(text: str) -> date | None:
    """A date as people type it (typed_input: 2027-04-01, 2027/4/1, full-width digits, 令和9年4月1日, R9/4/1);
    empty: today."""
    if not (text or "").strip():
        return None
    try:
        return parse_date(text)
    except ValueError:
        raise ServiceError(
            "効力の日付は 2027/4/1 や 令和9年4月1日 の形で入力してください (date as YYYY-MM-DD)", field="effective_on"
        ) from None


def _number(text: str) -> int | None:
    text = unicodedata.normalize("NFKC", text or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


@router.post("/redraw")
async def redraw(request: Request, principal: Drawer, session: SessionDep):
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}
    values["municipality_ids"] = [str(v) for v in form.getlist("municipality_ids")]
    values["prefecture_id"] = str(form.get("prefecture_id", ""))
    return await run_in_threadpool(_redraw, request, principal, session, values)


def _redraw(request: Request, principal: Principal, session: Session, values: dict) -> Response:
    chosen = _prefecture(session, principal, values["prefecture_id"])
    kind = values["kind"]
    params: dict = {}
    if kind == "move":
        params = {
            "municipality_id": _number(values["municipality_id"]),
            "to_region_id": _number(values["to_region_id"]),
        }
    elif kind in ("create", "split"):
        params = {
            "name": values["name"],
            "municipality_ids": [n for n in map(_number, values["municipality_ids"]) if n is not None],
        }
        if kind == "split":
            params["region_id"] = _number(values["region_id"])
    elif kind == "rename":
        params = {"region_id": _number(values["region_id"]), "name": values["name"]}
    elif kind == "merge":
        params = {"region_id": _number(values["region_id"]), "into_region_id": _number(values["into_region_id"])}
    try:
        if chosen is None:
            raise ServiceError("都道府県を選んでください (choose a prefecture)", field="prefecture_id")
        effective_on = parse_day(values["effective_on"])
        with session.begin_nested():
            change = region_changes.request_change(
                session=session,
                principal=principal,
                prefecture_id=chosen,
                kind=kind,
                params=params,
                effective_on=effective_on,
                request=request,
            )
    except ServiceError as exc:
        return _redraw_page(
            session,
            principal,
            chosen,
            values=values,
            error=exc.message,
            error_field=exc.field,
            status_code=exc.status_code if exc.status_code != 404 else 422,
        )
    suffix = f"&prefecture_id={chosen}" if principal.role == Role.admin else ""
    return RedirectResponse(f"/registry/regions/redraw?saved={change.id}{suffix}#result", status_code=303)


@router.get("/history")
def history_page(principal: Drawer, session: SessionDep, prefecture_id: Annotated[str, Query(max_length=12)] = ""):
    chosen = _prefecture(session, principal, prefecture_id)
    changes = region_changes.list_changes(session=session, prefecture_id=chosen) if chosen is not None else []
    users = {c.created_by_user_id for c in changes} - {None}
    names = (
        dict(session.exec(select(User.id, User.username).where(col(User.id).in_(sorted(users)))).all()) if users else {}
    )
    prefectures = (
        list(session.exec(select(Prefecture).order_by(Prefecture.code)).all()) if principal.role == Role.admin else []
    )
    return page(
        "registry/region_history.html",
        principal,
        changes=changes,
        users=names,
        kinds=region_changes.HISTORY_KINDS,
        statuses=region_changes.STATUS_JA,
        prefectures=prefectures,
        prefecture_id=chosen,
    )


@router.post("/changes/{change_id}/cancel")
def cancel(change_id: int, request: Request, principal: Drawer, session: SessionDep):
    try:
        with session.begin_nested():
            change = region_changes.cancel_change(
                session=session, principal=principal, change_id=change_id, request=request
            )
    except ServiceError as exc:
        return page("registry/error.html", principal, status_code=exc.status_code, message=exc.message)
    suffix = f"?prefecture_id={change.prefecture_id}" if principal.role == Role.admin else ""
    return RedirectResponse(f"/registry/regions/history{suffix}", status_code=303)
