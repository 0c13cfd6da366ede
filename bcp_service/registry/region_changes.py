"""Redrawing the map (issue 27.1): move a municipality to another home-care region, create, rename,
merge and split regions, each with an effective date, and the history of every change.

A change is a ``region_change`` row. ``request_change`` checks it against today's map (the prefecture
wall of ``auth/wall.py`` included: a region or municipality of another prefecture is "not found") and,
when its date (Asia/Tokyo) has come, applies it at once; otherwise it waits as ``scheduled`` and the
scheduler (``apply_due_changes``, safe to run twice: a row is applied only while ``scheduled``) applies
it on that date, checked again against the map of that day. Applying goes through the same service
functions as ``PATCH /api/v1/regions/{id}`` and ``POST /api/v1/regions`` (``registry/areas.py``), audits
each region with before and after (``registry/changes.record_change``), and then the hubs of the
patients in every municipality touched follow the map (``registry/hub_follow.follow_municipalities``).
Coverage gaps and every scope that depends on regions read these rows live, so they follow at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from fastapi import Request
from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.db import unit_of_work
from bcp_service.errors import FieldError, NotFound, ServiceError
from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    Municipality,
    Prefecture,
    RegionChange,
    RoundSchedule,
)
from bcp_service.models.base import utcnow
from bcp_service.registry import areas
from bcp_service.registry import designations as designation_rows
from bcp_service.registry.changes import record_change
from bcp_service.registry.hub_follow import describe_groups, follow_municipalities
from bcp_service.registry.schemas import RegionCreate, RegionUpdate
from bcp_service.timeutil import local

log = logging.getLogger("bcp_service.registry")

KINDS = {"move": "市町村の移動", "create": "圏域の新設", "rename": "名称の変更", "merge": "統合", "split": "分割"}
# A redraw made through the API (record_api_redraw): on the history page, never offered as a form.
HISTORY_KINDS = {**KINDS, "api": "API での変更"}
STATUS_JA = {"scheduled": "予定", "applied": "適用済み", "failed": "適用できず", "cancelled": "取り消し"}
MAX_AHEAD_DAYS = 3 * 366
NO_REGION = "在宅医療圏が見つかりません (region not found)"
NO_MUNICIPALITY = "市町村が見つかりません (municipality not found)"


def today(now: datetime | None = None) -> date:
    """Today in the display zone (Asia/Tokyo): the day a change takes effect."""
    return local(now or utcnow()).date()


def _region(session: Session, prefecture_id: int, region_id, field: str) -> HomeCareRegion:
    region = session.get(HomeCareRegion, region_id) if isinstance(region_id, int) else None
    if region is None or region.prefecture_id != prefecture_id:
        raise FieldError(NO_REGION, field=field)
    return region


def _municipalities(session: Session, prefecture_id: int, ids, field: str) -> list[Municipality]:
    wanted = sorted({i for i in ids if isinstance(i, int)})
    if not wanted or len(wanted) != len(set(ids)):
        raise FieldError("市町村を選んでください (choose municipalities)", field=field)
    rows = list(session.exec(select(Municipality).where(col(Municipality.id).in_(wanted))).all())
    if len(rows) != len(wanted) or any(m.prefecture_id != prefecture_id for m in rows):
        raise FieldError(NO_MUNICIPALITY, field=field)
    return rows


def _name(session: Session, prefecture_id: int, name, field: str = "name", own_id: int | None = None) -> str:
    text = (name or "").strip() if isinstance(name, str) else ""
    if not text:
        raise FieldError("圏域の名前を入力してください (a name is required)", field=field)
    if len(text) > 100:
        raise FieldError("圏域の名前は100文字以内で入力してください (name too long)", field=field)
    taken = session.exec(
        select(HomeCareRegion.id).where(HomeCareRegion.prefecture_id == prefecture_id, HomeCareRegion.name == text)
    ).first()
    if taken is not None and taken != own_id:
        raise FieldError("同じ名前の在宅医療圏があります (region name already exists)", field=field)
    return text


def _schedules_naming(session: Session, region_id: int) -> list[str]:
    return [
        s.name
        for s in session.exec(select(RoundSchedule).where(col(RoundSchedule.deleted_at).is_(None))).all()
        if region_id in (s.target or {}).get("region_ids", [])
    ]


def check(session: Session, prefecture_id: int, kind: str, params: dict) -> str:
    """Refuse a change today's map cannot take (a clear Japanese FieldError); else its summary in Japanese."""
    if kind == "move":
        (town,) = _municipalities(session, prefecture_id, [params.get("municipality_id")], "municipality_id")
        target = _region(session, prefecture_id, params.get("to_region_id"), "to_region_id")
        if town.id in areas.region_member_ids(session, target.id):
            raise FieldError(
                f"{town.name}はすでに{target.name}に属しています (already in that region)", field="to_region_id"
            )
        return f"{town.name}を{target.name}へ移す"
    if kind == "create":
        name = _name(session, prefecture_id, params.get("name"))
        towns = (
            _municipalities(session, prefecture_id, params.get("municipality_ids") or [], "municipality_ids")
            if params.get("municipality_ids")
            else []
        )
        return f"{name}を新設" + (f"（{'、'.join(t.name for t in towns)}を移す）" if towns else "")
    if kind == "rename":
        region = _region(session, prefecture_id, params.get("region_id"), "region_id")
        name = _name(session, prefecture_id, params.get("name"), own_id=region.id)
        return f"{region.name}の名前を{name}に変える"
    if kind == "merge":
        region = _region(session, prefecture_id, params.get("region_id"), "region_id")
        into = _region(session, prefecture_id, params.get("into_region_id"), "into_region_id")
        if region.id == into.id:
            raise FieldError("統合先には別の圏域を選んでください (choose another region)", field="into_region_id")
        named = _schedules_naming(session, region.id)
        if named:
            raise FieldError(
                f"定期の安否確認「{'」「'.join(named)}」が{region.name}を対象にしています。先に対象を変えてください"
                " (a schedule targets this region)",
                field="region_id",
            )
        return f"{region.name}を{into.name}に統合する（指定も移る）"
    if kind == "split":
        region = _region(session, prefecture_id, params.get("region_id"), "region_id")
        name = _name(session, prefecture_id, params.get("name"))
        towns = _municipalities(session, prefecture_id, params.get("municipality_ids") or [], "municipality_ids")
        members = set(areas.region_member_ids(session, region.id))
        if not {t.id for t in towns} <= members:
            raise FieldError(
                f"分ける市町村は{region.name}に属する市町村から選んでください (not in that region)",
                field="municipality_ids",
            )
        if {t.id for t in towns} == members:
            raise FieldError(
                "すべての市町村を分けることはできません。名前の変更を使ってください (cannot take every municipality)",
                field="municipality_ids",
            )
        return f"{region.name}から{'、'.join(t.name for t in towns)}を分けて{name}を新設"
    raise FieldError("変更の種類を選んでください (choose a change)", field="kind")


def prefecture_of(session: Session, principal: Principal, chosen: int | None) -> int:
    """The prefecture a change is for: the officer's own; an admin's choice."""
    home = wall.home_prefecture(session, principal)
    if home is not None:
        if home == wall.NO_PREFECTURE:
            raise NotFound("都道府県が見つかりません (prefecture not found)")
        return home
    if chosen is None or session.get(Prefecture, chosen) is None:
        raise FieldError("都道府県を選んでください (choose a prefecture)", field="prefecture_id")
    return chosen


def request_change(
    *,
    session: Session,
    principal: Principal,
    prefecture_id: int,
    kind: str,
    params: dict,
    effective_on: date | None,
    request: Request | None = None,
    now: datetime | None = None,
) -> RegionChange:
    """Record a change; apply it now when its date has come (a failure then writes nothing)."""
    day = today(now)
    effective_on = effective_on or day
    if effective_on < day:
        raise FieldError("効力の日付に過去の日は選べません (the date is in the past)", field="effective_on")
    if (effective_on - day).days > MAX_AHEAD_DAYS:
        raise FieldError("効力の日付は3年以内にしてください (too far ahead)", field="effective_on")
    summary = check(session, prefecture_id, kind, params)
    change = RegionChange(
        prefecture_id=prefecture_id,
        kind=kind,
        params=params,
        summary=summary[:500],
        effective_on=effective_on,
        created_by_user_id=principal.user_id,
    )
    session.add(change)
    session.flush()
    record_change(
        session,
        principal,
        request,
        action="region.change_requested",
        key="region_change_id",
        row_id=change.id,
        before=None,
        after={"kind": kind, "summary": change.summary, "effective_on": effective_on.isoformat()},
    )
    if effective_on <= day:
        apply_change(session=session, change=change, principal=principal, request=request, now=now)
    return change


def apply_change(
    *,
    session: Session,
    change: RegionChange,
    principal: Principal | None,
    request: Request | None = None,
    now: datetime | None = None,
) -> None:
    """Apply one scheduled change through the regions' service functions; raises a ServiceError when
    the map of today no longer takes it (the caller decides: a page shows it, the scheduler records it)."""
    check(session, change.prefecture_id, change.kind, change.params)
    touched = _APPLY[change.kind](session, principal, request, change)
    groups = follow_municipalities(session, principal, request, touched, reason=f"region_change {change.id}")
    change.status = "applied"
    change.applied_at = now or utcnow()
    change.outcome = describe_groups(session, groups)[:1000]
    session.add(change)
    session.flush()


def _update(session, principal, request, region: HomeCareRegion, **fields) -> None:
    before = areas.region_snapshot(session, region)
    areas.update_region(session=session, region=region, data=RegionUpdate(**fields))
    record_change(
        session,
        principal,
        request,
        action="region.update",
        key="region_id",
        row_id=region.id,
        before=before,
        after=areas.region_snapshot(session, region),
    )


def _take_from_others(
    session, principal, request, prefecture_id: int, town_ids: set[int], keep: int | None
) -> set[int]:
    """Remove these municipalities from every other region of the prefecture; the members touched."""
    touched: set[int] = set()
    holders = session.exec(
        select(HomeCareRegion)
        .join(HomeCareRegionMunicipality, HomeCareRegionMunicipality.region_id == HomeCareRegion.id)
        .where(
            col(HomeCareRegionMunicipality.municipality_id).in_(sorted(town_ids)),
            HomeCareRegion.prefecture_id == prefecture_id,
        )
        .distinct()
    ).all()
    for region in holders:
        if region.id == keep:
            continue
        members = areas.region_member_ids(session, region.id)
        touched |= set(members)
        _update(session, principal, request, region, municipality_ids=[m for m in members if m not in town_ids])
    return touched


def _move(session, principal, request, change) -> set[int]:
    p = change.params
    target = session.get(HomeCareRegion, p["to_region_id"])
    town = p["municipality_id"]
    touched = _take_from_others(session, principal, request, change.prefecture_id, {town}, target.id)
    members = areas.region_member_ids(session, target.id)
    _update(session, principal, request, target, municipality_ids=[*members, town])
    return touched | set(members) | {town}


def _create(session, principal, request, change) -> set[int]:
    p = change.params
    towns = set(p.get("municipality_ids") or [])
    touched = _take_from_others(session, principal, request, change.prefecture_id, towns, None) if towns else set()
    region = areas.create_region(
        session=session,
        data=RegionCreate(prefecture_id=change.prefecture_id, name=p["name"].strip(), municipality_ids=sorted(towns)),
    )
    record_change(
        session,
        principal,
        request,
        action="region.create",
        key="region_id",
        row_id=region.id,
        before=None,
        after=areas.region_snapshot(session, region),
    )
    return touched | towns


def _rename(session, principal, request, change) -> set[int]:
    region = session.get(HomeCareRegion, change.params["region_id"])
    _update(session, principal, request, region, name=change.params["name"].strip())
    return set()  # the members are the same: no hub changes


def _merge(session, principal, request, change) -> set[int]:
    region = session.get(HomeCareRegion, change.params["region_id"])
    into = session.get(HomeCareRegion, change.params["into_region_id"])
    members = areas.region_member_ids(session, region.id)
    kept = areas.region_member_ids(session, into.id)
    _update(session, principal, request, into, municipality_ids=sorted({*kept, *members}))
    # The absorbed region's designations move to the region it joins (a duplicate is dropped); audited per institution.
    for designation in session.exec(select(Designation).where(Designation.region_id == region.id)).all():
        before = designation_rows.current(session, designation.institution_id)["designations"]
        duplicate = session.exec(
            select(Designation.id).where(
                Designation.institution_id == designation.institution_id,
                Designation.region_id == into.id,
                Designation.kind == designation.kind,
            )
        ).first()
        if duplicate is None:
            designation.region_id = into.id
            session.add(designation)
        else:
            session.delete(designation)
        session.flush()
        record_change(
            session,
            principal,
            request,
            action="institution.designations",
            key="institution_id",
            row_id=designation.institution_id,
            before=before,
            after=designation_rows.current(session, designation.institution_id)["designations"],
        )
    before = areas.region_snapshot(session, region)
    _update(session, principal, request, region, municipality_ids=[])
    session.delete(region)
    session.flush()
    record_change(
        session,
        principal,
        request,
        action="region.delete",
        key="region_id",
        row_id=change.params["region_id"],
        before=before,
        after={"name": None, "municipality_ids": []},
    )
    return set(members) | set(kept)


def _split(session, principal, request, change) -> set[int]:
    p = change.params
    region = session.get(HomeCareRegion, p["region_id"])
    towns = set(p["municipality_ids"])
    members = areas.region_member_ids(session, region.id)
    _update(session, principal, request, region, municipality_ids=[m for m in members if m not in towns])
    new = areas.create_region(
        session=session,
        data=RegionCreate(prefecture_id=change.prefecture_id, name=p["name"].strip(), municipality_ids=sorted(towns)),
    )
    record_change(
        session,
        principal,
        request,
        action="region.create",
        key="region_id",
        row_id=new.id,
        before=None,
        after=areas.region_snapshot(session, new),
    )
    return set(members)


_APPLY: dict[str, Callable[..., set[int]]] = {
    "move": _move,
    "create": _create,
    "rename": _rename,
    "merge": _merge,
    "split": _split,
}


def cancel_change(
    *, session: Session, principal: Principal, change_id: int, request: Request | None = None
) -> RegionChange:
    change = get_change(session=session, principal=principal, change_id=change_id)
    if change.status != "scheduled":
        raise FieldError(
            "取り消せるのは予定の変更だけです (only a scheduled change can be cancelled)", field="change_id"
        )
    change.status = "cancelled"
    change.outcome = f"{principal.username} が取り消しました"[:1000]
    session.add(change)
    session.flush()
    record_change(
        session,
        principal,
        request,
        action="region.change_cancelled",
        key="region_change_id",
        row_id=change.id,
        before={"status": "scheduled"},
        after={"status": "cancelled"},
    )
    return change


def get_change(*, session: Session, principal: Principal, change_id: int) -> RegionChange:
    change = session.get(RegionChange, change_id)
    home = wall.home_prefecture(session, principal)
    if change is None or (home is not None and change.prefecture_id != home):
        raise NotFound("変更が見つかりません (change not found)")
    return change


def list_changes(*, session: Session, prefecture_id: int | None, limit: int = 500) -> list[RegionChange]:
    query = select(RegionChange).order_by(col(RegionChange.id).desc()).limit(limit)
    if prefecture_id is not None:
        query = query.where(RegionChange.prefecture_id == prefecture_id)
    return list(session.exec(query).all())


def apply_due_changes(session_factory: Callable[[], Session], *, now: datetime | None = None) -> int:
    """The scheduler's job: apply every scheduled change whose date has come, each in its own unit of
    work. One the map no longer takes is marked ``failed`` with the reason in Japanese (history shows it)."""
    day = today(now)
    with unit_of_work(session_factory) as session:
        due = list(
            session.exec(
                select(RegionChange.id)
                .where(RegionChange.status == "scheduled", RegionChange.effective_on <= day)
                .order_by(RegionChange.id)
            ).all()
        )
    applied = 0
    for change_id in due:
        try:
            with unit_of_work(session_factory) as session:
                # The claim: one scheduler wins the row (the others see no row to change, or wait and then none).
                claimed = session.execute(
                    update(RegionChange)
                    .where(RegionChange.id == change_id, RegionChange.status == "scheduled")
                    .values(status="applying")
                )
                if claimed.rowcount != 1:
                    continue
                change = session.get(RegionChange, change_id)
                with session.begin_nested():
                    apply_change(session=session, change=change, principal=None, now=now)
                applied += 1
        except ServiceError as exc:
            with unit_of_work(session_factory) as session:
                change = session.get(RegionChange, change_id)
                if change is not None and change.status in ("scheduled", "applying"):
                    change.status = "failed"
                    change.outcome = f"適用できませんでした: {exc.message}"[:1000]
                    change.applied_at = now or utcnow()
                    session.add(change)
            log.warning("region_change.failed", extra={"region_change_id": change_id})
    return applied


def record_api_redraw(
    session: Session,
    principal: Principal,
    *,
    prefecture_id: int,
    before: dict | None,
    after: dict,
    groups,
    now: datetime | None = None,
) -> RegionChange:
    """A redraw made through ``POST``/``PATCH /api/v1/regions`` joins the history page as an applied change
    of its own kind, so the history holds every redraw, from the pages or the API."""
    towns = dict(
        session.exec(
            select(Municipality.id, Municipality.name).where(
                col(Municipality.id).in_(
                    set((before or {}).get("municipality_ids", [])) | set(after["municipality_ids"])
                )
            )
        ).all()
    )

    def names(ids) -> str:
        return "、".join(towns.get(i, str(i)) for i in ids) or "なし"

    if before is None:
        summary = f"圏域「{after['name']}」を新設（市町村: {names(after['municipality_ids'])}）"
    else:
        parts = []
        if before["name"] != after["name"]:
            parts.append(f"名称「{before['name']}」→「{after['name']}」")
        added = [i for i in after["municipality_ids"] if i not in before["municipality_ids"]]
        removed = [i for i in before["municipality_ids"] if i not in after["municipality_ids"]]
        if added:
            parts.append(f"加えた市町村: {names(added)}")
        if removed:
            parts.append(f"外した市町村: {names(removed)}")
        summary = f"圏域「{after['name']}」を変更（{'、'.join(parts) or '変更なし'}）"
    moment = now or utcnow()
    change = RegionChange(
        prefecture_id=prefecture_id,
        kind="api",
        params={"before": before, "after": after},
        summary=summary[:500],
        effective_on=today(moment),
        status="applied",
        applied_at=moment,
        outcome=describe_groups(session, groups)[:1000],
        created_by_user_id=principal.user_id,
    )
    session.add(change)
    session.flush()
    return change
