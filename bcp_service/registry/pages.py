"""Registry pages for patients: search and filters, a new patient, view and edit every field,
contacts one at a time, status changes with a reason, and the risk tier with its reason.

Same services, scope and audit as the API (``registry/routes.py``). Forms post back here with the
session's CSRF token and redirect after success; a failed save answers 422 with every value typed
shown again and each message next to its field, and writes nothing (the work runs in a SAVEPOINT).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from bcp_service.audit.changes import CONTACTS_CHANGED, diff, snapshot
from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import IDENTIFIED, Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.labels import THERAPY_LABELS
from bcp_service.models import Institution, Municipality, Patient
from bcp_service.models.enums import PatientStatus, RiskTier, Therapy
from bcp_service.page_helpers import page, register_home_link
from bcp_service.registry import contacts, hub_follow, patients
from bcp_service.registry import page_forms as forms
from bcp_service.registry.code_labels import PATIENT_CODES
from bcp_service.registry.phones import national_format
from bcp_service.registry.risk import explain_risk_tier, remaining_power_hours
from bcp_service.registry.schemas import PatientContactIn, PatientCreate, PatientUpdate
from bcp_service.registry.scope import ensure_patient_in_scope

router = APIRouter(prefix="/registry", include_in_schema=False)
EDITORS = (Role.admin, Role.prefecture, Role.hub, Role.institution)
Viewer = Annotated[Principal, Depends(Access(*IDENTIFIED))]
Editor = Annotated[Principal, Depends(Access(*EDITORS))]
PAGE_SIZE = 50

register_home_link(
    "/registry/patients",
    "患者登録簿",
    "検索（ひらがな・カナ・旧字体でも可）、登録、修正、連絡先、状態の変更",
    IDENTIFIED,
)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _choice(value: str | None, enum):
    return enum(value) if value in enum.__members__ else None


@router.get("/patients")
def patient_list(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    region_id: Annotated[str, Query(max_length=12)] = "",
    municipality_id: Annotated[str, Query(max_length=12)] = "",
    institution_id: Annotated[str, Query(max_length=12)] = "",
    therapy: Annotated[str, Query(max_length=20)] = "",
    risk_tier: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "active",
    page_no: Annotated[int, Query(ge=1, le=100000, alias="page")] = 1,
):
    filters = patients.PatientFilters(
        region_id=_int(region_id),
        municipality_id=_int(municipality_id),
        institution_id=_int(institution_id),
        therapy=_choice(therapy, Therapy),
        risk_tier=_choice(risk_tier, RiskTier),
        status=status if status in PatientStatus.__members__ else None,
        q=q or None,
    )
    rows, total = patients.list_patients(
        session=session,
        filters=filters,
        scope=patient_scope(principal),
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    audit(
        session=session, principal=principal, action="patient.list", patient_ids=[p.id for p in rows], request=request
    )
    params = {
        "q": q,
        "region_id": region_id,
        "municipality_id": municipality_id,
        "institution_id": institution_id,
        "therapy": therapy,
        "risk_tier": risk_tier,
        "status": status,
    }
    # "status" stays in page links even when empty ("all"): absent means the default, active only.
    kept = {k: v for k, v in params.items() if v or k == "status"}
    chosen = {k: v for k, v in params.items() if v}
    return page(
        "registry/patients.html",
        principal,
        rows=rows,
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
        query=lambda n: urlencode(kept | {"page": n}),
        export_query=urlencode(chosen),
        options=forms.filter_options(session, principal),
        names=_municipality_names(session, rows),
        therapies=THERAPY_LABELS,
        tiers=forms.TIER_LABELS,
        statuses=forms.STATUS_LABELS,
        can_edit=principal.role in EDITORS,
    )


def _municipality_names(session: Session, rows: list[Patient]) -> dict[int, str]:
    ids = {p.municipality_id for p in rows}
    return (
        dict(session.exec(select(Municipality.id, Municipality.name).where(Municipality.id.in_(ids))).all())
        if ids
        else {}
    )


@router.get("/patients/new")
def new_patient_form(principal: Editor, session: SessionDep):
    values = dict.fromkeys(forms.FIELDS, "") | {
        "sex": "unknown",
        "contact_kind": "self",
        "contact_preferred_channel": "sms",
    }
    values |= forms.own_institution(session, principal)
    return _new_page(session, principal, values, {})


def _new_page(session: Session, principal: Principal, values: dict, errors: dict, status_code: int = 200) -> Response:
    return page(
        "registry/patient_new.html",
        principal,
        status_code=status_code,
        sections=forms.SECTIONS,
        values=values,
        errors=errors,
        options=forms.form_options(session, principal, values),
        contact_kinds=forms.CONTACT_KIND_LABELS,
        channels=forms.CHANNEL_LABELS,
    )


@router.post("/patients/new")
async def create_patient_from_page(request: Request, principal: Editor, session: SessionDep):
    values = forms.posted_values(await request.form())
    return await run_in_threadpool(_create, request, principal, session, values)


def _create(request: Request, principal: Principal, session: Session, values: dict) -> Response:
    data, errors = forms.validate(PatientCreate, forms.payload(values, with_contact=True))
    if data is None:
        return _new_page(session, principal, values, errors, 422)
    try:
        with session.begin_nested():
            patient = patients.create_patient(session=session, principal=principal, data=data)
            ensure_patient_in_scope(session, principal, patient)
    except ServiceError as exc:
        return _new_page(session, principal, values, {exc.field or "_form": exc.message}, exc.status_code)
    audit(session=session, principal=principal, action="patient.create", patient_ids=[patient.id], request=request)
    return RedirectResponse(f"/registry/patients/{patient.id}?saved=1", status_code=303)


def _patient(session: Session, principal: Principal, patient_id: int) -> Patient:
    return patients.get_patient(session=session, patient_id=patient_id, scope=patient_scope(principal))


def _detail(
    request: Request,
    principal: Principal,
    session: Session,
    patient: Patient,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    contact_errors: dict | None = None,
    contact_values: dict | None = None,
    status_error: str | None = None,
    status_reason: str = "",
    notice: str | None = None,
    status_code: int = 200,
    sight: hub_follow.SightChange | None = None,
) -> Response:
    audit(session=session, principal=principal, action="patient.read", patient_ids=[patient.id], request=request)
    inputs = patients.risk_inputs(patient)
    tier, why = explain_risk_tier(inputs)
    rows = contacts.list_contacts(session=session, patient=patient)
    names = {}
    for field in ("active_institution_id", "visiting_nurse_station_id", "hub_id", "backup_hospital_id"):
        ref = getattr(patient, field)
        institution = session.get(Institution, ref) if ref else None
        names[field] = institution.name if institution else ""
    current = values or forms.patient_values(patient)
    return page(
        "registry/patient.html",
        principal,
        status_code=status_code,
        patient=patient,
        values=current,
        errors=errors or {},
        sections=forms.SECTIONS,
        options=forms.form_options(session, principal, current),
        tier=tier,
        why=why,
        power_hours=remaining_power_hours(inputs),
        contacts=rows,
        national=national_format,
        addresses=contacts.addresses_of(session=session, contacts=rows),
        address_fields=forms.ADDRESS_FIELDS,
        contact_values_of=forms.contact_values,
        contact_errors=contact_errors or {},
        contact_values=contact_values or {},
        status_error=status_error,
        status_reason=status_reason,
        municipality=session.get(Municipality, patient.municipality_id),
        names=names,
        notice=notice,
        tiers=forms.TIER_LABELS,
        statuses=forms.STATUS_LABELS,
        contact_kinds=forms.CONTACT_KIND_LABELS,
        channels=forms.CHANNEL_LABELS,
        sexes=forms.SEX_LABELS,
        can_edit=principal.role in EDITORS,
        sight=sight,
    )


@router.get("/patients/{patient_id}")
def patient_page(patient_id: int, request: Request, principal: Viewer, session: SessionDep, saved: int = 0):
    try:
        patient = _patient(session, principal, patient_id)
    except ServiceError as exc:
        return page("registry/error.html", principal, status_code=exc.status_code, message=exc.message)
    return _detail(request, principal, session, patient, notice="保存しました。" if saved else None)


async def _posted(request: Request, fn, *args):
    form = await request.form()
    return await run_in_threadpool(fn, request, form, *args)


@router.post("/patients/{patient_id}")
async def save_patient(patient_id: int, request: Request, principal: Editor, session: SessionDep):
    return await _posted(request, _save, principal, session, patient_id)


def _save(request: Request, form, principal: Principal, session: Session, patient_id: int) -> Response:
    patient = _patient(session, principal, patient_id)
    values = forms.posted_values(form)
    data, errors = forms.validate(PatientUpdate, forms.payload(values, with_contact=False))
    if data is None:
        return _detail(request, principal, session, patient, values=values, errors=errors, status_code=422)
    before = snapshot(patient)
    seen_before = hub_follow.sight(session, patient.municipality_id, patient.hub_id, patient.model_dump())
    try:
        # The save runs in a SAVEPOINT; when it changes who sees the patient and was not confirmed, it is
        # rolled back and the page asks first, naming who loses and who gains sight (issue 27.2).
        nested = session.begin_nested()
        try:
            patients.update_patient(session=session, principal=principal, patient=patient, data=data)
            ensure_patient_in_scope(session, principal, patient, moved_from=before["municipality_id"])
            seen = hub_follow.sight_change(
                session,
                seen_before,
                hub_follow.sight(session, patient.municipality_id, patient.hub_id, patient.model_dump()),
            )
            if not seen.empty and form.get("confirmed") != "1":
                nested.rollback()
                session.refresh(patient)
                return _detail(request, principal, session, patient, values=values, sight=seen)
            nested.commit()
        except BaseException:
            if nested.is_active:
                nested.rollback()
            raise
    except ServiceError as exc:
        session.refresh(patient)
        return _detail(
            request,
            principal,
            session,
            patient,
            values=values,
            errors={exc.field or "_form": exc.message},
            status_code=exc.status_code,
        )
    audit(
        session=session,
        principal=principal,
        action="patient.update",
        patient_ids=[patient.id],
        request=request,
        changes=diff("patient", before, snapshot(patient), PATIENT_CODES),
    )
    if session.exec(select(Patient.id).where(Patient.id == patient.id, *patient_scope(principal))).first() is None:
        # Handed over (a hub whose patient moved away): saved, and no longer the caller's to see.
        return page("registry/handed_over.html", principal, hub=names_of(session, patient.hub_id))
    return RedirectResponse(f"/registry/patients/{patient.id}?saved=1", status_code=303)


def names_of(session: Session, institution_id: int | None) -> str:
    institution = session.get(Institution, institution_id) if institution_id else None
    return institution.name if institution else ""


@router.post("/patients/{patient_id}/status")
async def change_status_from_page(patient_id: int, request: Request, principal: Editor, session: SessionDep):
    return await _posted(request, _change_status, principal, session, patient_id)


def _change_status(request: Request, form, principal: Principal, session: Session, patient_id: int) -> Response:
    patient = _patient(session, principal, patient_id)
    status, reason = str(form.get("status", "")), str(form.get("status_reason", ""))
    before = snapshot(patient)
    try:
        if status not in PatientStatus.__members__:
            raise ServiceError("状態を選んでください (choose a status)", field="status")
        with session.begin_nested():
            patients.change_status(
                session=session, principal=principal, patient=patient, status=PatientStatus(status), reason=reason
            )
    except ServiceError as exc:
        session.refresh(patient)
        return _detail(
            request,
            principal,
            session,
            patient,
            status_error=exc.message,
            status_reason=reason,
            status_code=exc.status_code,
        )
    audit(
        session=session,
        principal=principal,
        action="patient.update",
        patient_ids=[patient.id],
        request=request,
        changes=diff("patient", before, snapshot(patient), PATIENT_CODES),
    )
    return RedirectResponse(f"/registry/patients/{patient.id}?saved=1#status", status_code=303)


@router.post("/patients/{patient_id}/contacts")
async def add_contact_from_page(patient_id: int, request: Request, principal: Editor, session: SessionDep):
    return await _posted(request, _contact, principal, session, patient_id, None, False)


@router.post("/patients/{patient_id}/contacts/{contact_id}")
async def edit_contact_from_page(
    patient_id: int, contact_id: int, request: Request, principal: Editor, session: SessionDep
):
    return await _posted(request, _contact, principal, session, patient_id, contact_id, False)


@router.post("/patients/{patient_id}/contacts/{contact_id}/delete")
async def remove_contact_from_page(
    patient_id: int, contact_id: int, request: Request, principal: Editor, session: SessionDep
):
    return await _posted(request, _contact, principal, session, patient_id, contact_id, True)


def _contact(
    request: Request,
    form,
    principal: Principal,
    session: Session,
    patient_id: int,
    contact_id: int | None,
    remove: bool,
) -> Response:
    patient = _patient(session, principal, patient_id)
    key = str(contact_id) if contact_id else "new"
    values = {name: str(form.get(name, "")).strip() for name in forms.CONTACT_FIELDS}
    try:
        with session.begin_nested():
            row = contacts.get_contact(session=session, patient=patient, contact_id=contact_id) if contact_id else None
            if remove:
                contacts.remove_contact(session=session, patient=patient, contact=row)
            else:
                data, errors = forms.validate(PatientContactIn, forms.contact_payload(values))
                if data is None:
                    return _detail(
                        request,
                        principal,
                        session,
                        patient,
                        contact_errors={key: errors},
                        contact_values={key: values},
                        status_code=422,
                    )
                if row is None:
                    contacts.add_contact(session=session, patient=patient, data=data)
                else:
                    contacts.update_contact(session=session, patient=patient, contact=row, data=data)
    except ServiceError as exc:
        if exc.status_code == 404:
            return page("registry/error.html", principal, status_code=404, message=exc.message)
        return _detail(
            request,
            principal,
            session,
            patient,
            contact_errors={key: {exc.field or "phone": exc.message}},
            contact_values={key: values},
            status_code=exc.status_code,
        )
    audit(
        session=session,
        principal=principal,
        action="patient.update",
        patient_ids=[patient.id],
        request=request,
        changes=[CONTACTS_CHANGED],
    )
    return RedirectResponse(f"/registry/patients/{patient.id}?saved=1#contacts", status_code=303)
