"""Registry pages for institutions, their designations, and home-care regions with coverage gaps.

Designations are changed here only by an admin or by the prefecture officer of the region
(``registry/designations.py``); everyone else sees them. Reads follow the API's rules.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.audit.changes import INSTITUTION_CODES, diff, snapshot
from bcp_service.audit.service import record as audit
from bcp_service.auth import wall
from bcp_service.auth.deps import IDENTIFIED, Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.models import Designation, HomeCareRegion, HubMunicipality, Institution, Municipality, Patient
from bcp_service.models.enums import INSTITUTION_KIND_JA, DesignationKind, InstitutionKind
from bcp_service.page_helpers import page, register_home_link
from bcp_service.registry import designations, institutions
from bcp_service.registry.coverage import find_coverage_gaps
from bcp_service.registry.page_forms import caller_prefecture, validate
from bcp_service.registry.schemas import InstitutionUpdate
from bcp_service.registry.scope import ensure_institution_editable, ensure_institution_placed_in_scope

router = APIRouter(prefix="/registry", include_in_schema=False)
Viewer = Annotated[Principal, Depends(Access(*IDENTIFIED))]
Designator = Annotated[Principal, Depends(Access(*designations.DESIGNATORS))]
EDITORS = (Role.admin, Role.prefecture, Role.hub, Role.institution)  # as PATCH /api/v1/institutions/{id}
Editor = Annotated[Principal, Depends(Access(*EDITORS))]
DESIGNATION_LABELS = {DesignationKind.active_institution: "積極的役割を担う医療機関", DesignationKind.hub: "連携の拠点"}
PAGE_SIZE = 50

register_home_link(
    "/registry/institutions", "医療機関・拠点", "施設の一覧、指定（積極的医療機関・連携拠点）", IDENTIFIED
)
register_home_link(
    "/registry/regions", "在宅医療圏と空白圏域", "圏域ごとの積極的医療機関と拠点、欠けている圏域", IDENTIFIED
)


@router.get("/institutions")
def institution_list(
    principal: Viewer,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
    designation: Annotated[str, Query(max_length=30)] = "",
    region_id: Annotated[str, Query(max_length=12)] = "",
    page_no: Annotated[int, Query(ge=1, le=100000, alias="page")] = 1,
):
    prefecture_id = caller_prefecture(session, principal)
    filters = institutions.InstitutionFilters(
        prefecture_id=prefecture_id,
        region_id=int(region_id) if region_id.isdigit() else None,
        kind=InstitutionKind(kind) if kind in InstitutionKind.__members__ else None,
        designation=DesignationKind(designation) if designation in DesignationKind.__members__ else None,
        q=q or None,
    )
    rows, total = institutions.list_institutions(
        session=session, filters=filters, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    held: dict[int, set[str]] = {}
    if rows:
        for iid, dkind in session.exec(
            select(Designation.institution_id, Designation.kind).where(
                col(Designation.institution_id).in_([r.id for r in rows])
            )
        ):
            held.setdefault(iid, set()).add(dkind)
    params = {"q": q, "kind": kind, "designation": designation, "region_id": region_id}
    kept = {k: v for k, v in params.items() if v}
    return page(
        "registry/institutions.html",
        principal,
        rows=rows,
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
        query=lambda n: urlencode(kept | {"page": n}),
        kinds=INSTITUTION_KIND_JA,
        held=held,
        designation_labels=DESIGNATION_LABELS,
        regions=_regions(session, prefecture_id),
        municipalities=dict(session.exec(select(Municipality.id, Municipality.name)).all()) if rows else {},
    )


def _regions(session: Session, prefecture_id: int | None) -> list[HomeCareRegion]:
    query = select(HomeCareRegion).order_by(HomeCareRegion.name)
    if prefecture_id is not None:
        query = query.where(HomeCareRegion.prefecture_id == prefecture_id)
    return list(session.exec(query).all())


def _detail(
    session: Session,
    principal: Principal,
    institution_id: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    values: dict | None = None,
    errors: dict | None = None,
    status_code: int = 200,
) -> Response:
    try:
        institution = institutions.get_institution(session=session, institution_id=institution_id)
    except ServiceError as exc:
        return page("registry/error.html", principal, status_code=exc.status_code, message=exc.message)
    public = institutions.to_public(session, [institution])[0]
    held = list(
        session.exec(
            select(Designation, HomeCareRegion)
            .join(HomeCareRegion, HomeCareRegion.id == Designation.region_id)
            .where(Designation.institution_id == institution.id)
            .order_by(HomeCareRegion.name)
        ).all()
    )
    covered = session.exec(
        select(Municipality.name)
        .join(HubMunicipality, HubMunicipality.municipality_id == Municipality.id)
        .where(HubMunicipality.institution_id == institution.id)
        .order_by(Municipality.code)
    ).all()
    linked = session.exec(
        select(func.count())
        .select_from(Patient)
        .where(
            (Patient.active_institution_id == institution.id)
            | (Patient.visiting_nurse_station_id == institution.id)
            | (Patient.backup_hospital_id == institution.id)
            | (Patient.hub_id == institution.id),
            Patient.status == "active",
            *patient_scope(principal),
        )
    ).one()
    regions = [
        r for r in _regions(session, caller_prefecture(session, principal)) if designations.can_designate(principal, r)
    ]
    return page(
        "registry/institution.html",
        principal,
        status_code=status_code,
        institution=institution,
        public=public,
        held=held,
        covered=covered,
        linked=linked,
        municipality=session.get(Municipality, institution.municipality_id),
        designation_labels=DESIGNATION_LABELS,
        kinds=INSTITUTION_KIND_JA,
        error=error,
        notice=notice,
        can_designate=principal.role in designations.DESIGNATORS,
        designable_regions=regions,
        can_see_patients=principal.role != Role.nurse,
        can_edit=_editable(session, principal, institution),
        values=values or _values(institution),
        errors=errors or {},
        edit_fields=EDIT_FIELDS,
    )


EDIT_FIELDS = (
    ("name", "名称", "text"),
    ("kind", "種別", "select"),
    ("enhanced", "機能強化型", "bool"),
    ("open_24h", "24時間対応", "bool"),
    ("address", "住所", "text"),
    ("phone", "電話番号", "text"),
    ("external_id", "外部ID", "text"),
    ("oncall_phone", "当番電話（重症患者と連絡が取れないときの呼び出し先）", "text"),
)


def _values(institution: Institution) -> dict[str, str]:
    return {
        name: ("on" if getattr(institution, name) else "") if kind == "bool" else str(getattr(institution, name) or "")
        for name, _label, kind in EDIT_FIELDS
    }


def _editable(session: Session, principal: Principal, institution: Institution) -> bool:
    if principal.role not in EDITORS:
        return False
    try:
        ensure_institution_editable(session, principal, institution)
    except ServiceError:
        return False
    return True


@router.post("/institutions/{institution_id}")
async def save_institution(institution_id: int, request: Request, principal: Editor, session: SessionDep):
    form = await request.form()
    return await run_in_threadpool(_save_institution, form, principal, session, institution_id, request)


def _save_institution(form, principal: Principal, session: Session, institution_id: int, request: Request) -> Response:
    values = {name: str(form.get(name, "")).strip() for name, _label, _kind in EDIT_FIELDS}
    data, errors = validate(
        InstitutionUpdate,
        {name: bool(values[name]) if kind == "bool" else (values[name] or None) for name, _label, kind in EDIT_FIELDS},
    )
    try:
        institution = institutions.get_institution(session=session, institution_id=institution_id)
        ensure_institution_editable(session, principal, institution)
        if data is None:
            return _detail(session, principal, institution_id, values=values, errors=errors, status_code=422)
        before = snapshot(institution)
        home = wall.home_prefecture(session, principal)
        with session.begin_nested():
            institutions.update_institution(session=session, institution=institution, data=data)
            ensure_institution_placed_in_scope(session, principal, institution, home)
    except ServiceError as exc:
        if exc.status_code == 404:
            return page("registry/error.html", principal, status_code=404, message=exc.message)
        return _detail(
            session,
            principal,
            institution_id,
            values=values,
            errors={exc.field or "name": exc.message},
            status_code=exc.status_code,
        )
    audit(
        session=session,
        principal=principal,
        action="institution.update",
        request=request,
        detail=f"institution {institution_id}",
        changes=diff("institution", before, snapshot(institution), INSTITUTION_CODES),
    )
    return RedirectResponse(f"/registry/institutions/{institution_id}?saved=1", status_code=303)


@router.get("/institutions/{institution_id}")
def institution_page(institution_id: int, principal: Viewer, session: SessionDep, saved: int = 0):
    return _detail(session, principal, institution_id, notice="保存しました。" if saved else None)


@router.post("/institutions/{institution_id}/designations")
def add_designation(
    institution_id: int,
    principal: Designator,
    session: SessionDep,
    region_id: Annotated[str, Form(max_length=12)] = "",
    kind: Annotated[str, Form(max_length=30)] = "",
):
    try:
        institution = institutions.get_institution(session=session, institution_id=institution_id)
        if kind not in DesignationKind.__members__:
            raise ServiceError("指定の種類を選んでください (choose a designation)", field="kind")
        with session.begin_nested():
            designations.designate(
                session=session,
                principal=principal,
                institution=institution,
                region_id=int(region_id) if region_id.isdigit() else -1,
                kind=DesignationKind(kind),
            )
    except ServiceError as exc:
        return _detail(session, principal, institution_id, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/registry/institutions/{institution_id}?saved=1", status_code=303)


@router.post("/institutions/{institution_id}/designations/{designation_id}/delete")
def remove_designation(institution_id: int, designation_id: int, principal: Designator, session: SessionDep):
    try:
        institution = institutions.get_institution(session=session, institution_id=institution_id)
        with session.begin_nested():
            designations.withdraw(
                session=session, principal=principal, institution=institution, designation_id=designation_id
            )
    except ServiceError as exc:
        return _detail(session, principal, institution_id, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/registry/institutions/{institution_id}?saved=1", status_code=303)


@router.get("/regions")
def regions_page(principal: Viewer, session: SessionDep):
    prefecture_id = caller_prefecture(session, principal)
    report = find_coverage_gaps(session=session, prefecture_id=prefecture_id)
    names = dict(session.exec(select(Municipality.code, Municipality.name)).all())
    return page("registry/regions.html", principal, report=report, names=names, designation_labels=DESIGNATION_LABELS)
