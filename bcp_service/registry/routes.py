"""Registry API: regions, municipalities, institutions, patients, coverage gaps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlmodel import Session

from bcp_service.audit.changes import CONTACTS_CHANGED, INSTITUTION_CODES, STAFF_CHANGED, diff, snapshot
from bcp_service.audit.service import record as audit
from bcp_service.auth import wall
from bcp_service.auth.deps import ALL_ROLES, IDENTIFIED, Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import Forbidden, NotFound
from bcp_service.models.enums import DesignationKind, InstitutionKind, PatientStatus, RiskTier, Therapy
from bcp_service.registry import (
    areas,
    contacts,
    designations,
    institutions,
    patients,
    prefectures,
    region_changes,
)
from bcp_service.registry.changes import record_change
from bcp_service.registry.code_labels import PATIENT_CODES
from bcp_service.registry.coverage import find_coverage_gaps
from bcp_service.registry.hub_follow import follow_municipalities
from bcp_service.registry.schemas import (
    CoverageGapReport,
    DesignationsPut,
    HubMunicipalitiesPut,
    InstitutionCreate,
    InstitutionPublic,
    InstitutionUpdate,
    MunicipalityCreate,
    MunicipalityPublic,
    MunicipalityUpdate,
    Page,
    PatientContactIn,
    PatientContactPublic,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
    PrefectureCreate,
    PrefecturePublic,
    QuietHours,
    RegionCreate,
    RegionPublic,
    RegionUpdate,
)
from bcp_service.registry.scope import (
    ensure_institution_editable,
    ensure_institution_placed_in_scope,
    ensure_patient_in_scope,
    ensure_prefecture_writable,
    municipality_in_scope,
)
from bcp_service.registry.stats import PatientStats, count_patients_by_area

router = APIRouter(prefix="/api/v1", tags=["registry"])
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]

AnyRole = Annotated[Principal, Depends(Access(*ALL_ROLES))]
AdminOnly = Annotated[Principal, Depends(Access(Role.admin))]
QuietSetter = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture))]
AreaEditor = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture))]
Identified = Annotated[Principal, Depends(Access(*IDENTIFIED))]
InstitutionCreator = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]
InstitutionEditor = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution))]
ScopeDecider = Annotated[Principal, Depends(Access(*designations.DECIDERS))]
PatientEditor = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution))]


def patient_public(session: Session, rows: list) -> list[PatientPublic]:
    contacts = patients.contacts_for(session=session, patient_ids=[p.id for p in rows])
    return [
        PatientPublic(
            **p.model_dump(),
            contacts=[PatientContactPublic.model_validate(c, from_attributes=True) for c in contacts.get(p.id, [])],
        )
        for p in rows
    ]


@router.get("/prefectures", response_model=list[PrefecturePublic])
def list_prefectures(principal: AnyRole, session: SessionDep):
    """Every prefecture with its JIS code (no personal data)."""
    return prefectures.list_prefectures(session=session)


@router.post("/prefectures", response_model=PrefecturePublic, status_code=status.HTTP_201_CREATED)
def create_prefecture(data: PrefectureCreate, request: Request, principal: AdminOnly, session: SessionDep):
    """Add a prefecture (admin only; audited). 409 when its code or name is taken."""
    return prefectures.create_prefecture(session=session, principal=principal, data=data, request=request)


@router.put("/prefectures/{prefecture_id}/quiet-hours", response_model=PrefecturePublic)
def set_quiet_hours(
    prefecture_id: int, data: QuietHours, request: Request, principal: QuietSetter, session: SessionDep
):
    """When advance notices may not text or call families in this prefecture (issue 25.4): local "HH:MM"
    start and end (e.g. 21:00 and 07:00); both null: the service's default. The prefecture's own officer
    or an admin; audited. Applies to notices started afterwards (a round keeps the rule it started with)."""
    return prefectures.set_quiet_hours(
        session=session,
        principal=principal,
        prefecture_id=prefecture_id,
        start=data.start,
        end=data.end,
        request=request,
    )


@router.get("/regions", response_model=Page[RegionPublic])
def list_regions(
    principal: AnyRole,
    session: SessionDep,
    prefecture_id: int | None = None,
    municipality_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    rows, total = areas.list_regions(
        session=session, prefecture_id=prefecture_id, municipality_id=municipality_id, q=q, limit=limit, offset=offset
    )
    return Page(items=areas.regions_to_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/regions", response_model=RegionPublic, status_code=status.HTTP_201_CREATED)
def create_region(data: RegionCreate, request: Request, principal: AreaEditor, session: SessionDep):
    ensure_prefecture_writable(principal, data.prefecture_id)
    region = areas.create_region(session=session, data=data)
    after = areas.region_snapshot(session, region)
    record_change(
        session, principal, request, action="region.create", key="region_id", row_id=region.id, before=None, after=after
    )
    groups = follow_municipalities(session, principal, request, after["municipality_ids"], reason=f"region {region.id}")
    region_changes.record_api_redraw(
        session, principal, prefecture_id=region.prefecture_id, before=None, after=after, groups=groups
    )
    return areas.regions_to_public(session, [region])[0]


@router.get("/regions/{region_id}", response_model=RegionPublic)
def get_region(region_id: int, principal: AnyRole, session: SessionDep):
    return areas.regions_to_public(session, [areas.get_region(session=session, region_id=region_id)])[0]


@router.patch("/regions/{region_id}", response_model=RegionPublic)
def update_region(region_id: int, data: RegionUpdate, request: Request, principal: AreaEditor, session: SessionDep):
    region = areas.get_region(session=session, region_id=region_id)
    if principal.role == Role.prefecture and region.prefecture_id != principal.scope_id:
        raise NotFound("在宅医療圏が見つかりません (region not found)")
    before = areas.region_snapshot(session, region)
    region = areas.update_region(session=session, region=region, data=data)
    after = areas.region_snapshot(session, region)
    record_change(
        session,
        principal,
        request,
        action="region.update",
        key="region_id",
        row_id=region.id,
        before=before,
        after=after,
    )
    # A redraw by the API moves the hubs of unpinned patients too, as the pages' redraws do (issue 27.2).
    groups = follow_municipalities(
        session,
        principal,
        request,
        set(before["municipality_ids"]) | set(after["municipality_ids"]),
        reason=f"region {region.id}",
    )
    region_changes.record_api_redraw(
        session, principal, prefecture_id=region.prefecture_id, before=before, after=after, groups=groups
    )
    return areas.regions_to_public(session, [region])[0]


@router.get("/municipalities", response_model=Page[MunicipalityPublic])
def list_municipalities(
    principal: AnyRole,
    session: SessionDep,
    prefecture_id: int | None = None,
    region_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
):
    rows, total = areas.list_municipalities(
        session=session, prefecture_id=prefecture_id, region_id=region_id, q=q, limit=limit, offset=offset
    )
    return Page(items=rows, total=total, limit=limit, offset=offset)


@router.post("/municipalities", response_model=MunicipalityPublic, status_code=status.HTTP_201_CREATED)
def create_municipality(data: MunicipalityCreate, request: Request, principal: AreaEditor, session: SessionDep):
    ensure_prefecture_writable(principal, data.prefecture_id)
    municipality = areas.create_municipality(session=session, data=data)
    record_change(
        session,
        principal,
        request,
        action="municipality.create",
        key="municipality_id",
        row_id=municipality.id,
        before=None,
        after=areas.municipality_snapshot(municipality),
    )
    return municipality


@router.get("/municipalities/{municipality_id}", response_model=MunicipalityPublic)
def get_municipality(municipality_id: int, principal: AnyRole, session: SessionDep):
    return areas.get_municipality(session=session, municipality_id=municipality_id)


@router.patch("/municipalities/{municipality_id}", response_model=MunicipalityPublic)
def update_municipality(
    municipality_id: int, data: MunicipalityUpdate, request: Request, principal: AreaEditor, session: SessionDep
):
    municipality = areas.get_municipality(session=session, municipality_id=municipality_id)
    if not municipality_in_scope(session, principal, municipality.id):
        raise NotFound("市町村が見つかりません (municipality not found)")
    before = areas.municipality_snapshot(municipality)
    municipality = areas.update_municipality(session=session, municipality=municipality, data=data)
    record_change(
        session,
        principal,
        request,
        action="municipality.update",
        key="municipality_id",
        row_id=municipality.id,
        before=before,
        after=areas.municipality_snapshot(municipality),
    )
    return municipality


@router.get("/institutions", response_model=Page[InstitutionPublic])
def list_institutions(
    principal: Identified,
    session: SessionDep,
    prefecture_id: int | None = None,
    region_id: int | None = None,
    municipality_id: int | None = None,
    kind: InstitutionKind | None = None,
    designation: DesignationKind | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    filters = institutions.InstitutionFilters(
        prefecture_id=prefecture_id,
        region_id=region_id,
        municipality_id=municipality_id,
        kind=kind,
        designation=designation,
        q=q,
    )
    rows, total = institutions.list_institutions(session=session, filters=filters, limit=limit, offset=offset)
    return Page(items=institutions.to_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/institutions", response_model=InstitutionPublic, status_code=status.HTTP_201_CREATED)
def create_institution(data: InstitutionCreate, principal: InstitutionCreator, session: SessionDep):
    decides = bool(data.designations or data.hub_municipality_ids)
    if decides and not designations.may_decide(principal):
        raise Forbidden(designations.REFUSED)
    institution = institutions.create_institution(session=session, data=data)
    ensure_institution_placed_in_scope(session, principal, institution)
    if decides:
        designations.ensure_may_decide(
            session,
            principal,
            institution,
            municipality_ids=data.hub_municipality_ids,
            region_ids=[d.region_id for d in data.designations],
        )
    return institutions.to_public(session, [institution])[0]


@router.get("/institutions/{institution_id}", response_model=InstitutionPublic)
def get_institution(institution_id: int, principal: Identified, session: SessionDep):
    return institutions.to_public(
        session, [institutions.get_institution(session=session, institution_id=institution_id)]
    )[0]


@router.patch("/institutions/{institution_id}", response_model=InstitutionPublic)
def update_institution(
    institution_id: int, data: InstitutionUpdate, request: Request, principal: InstitutionEditor, session: SessionDep
):
    institution = institutions.get_institution(session=session, institution_id=institution_id)
    ensure_institution_editable(session, principal, institution)
    home = wall.home_prefecture(session, principal)  # before the update: an institution may be moving itself
    before = snapshot(institution)
    institution = institutions.update_institution(session=session, institution=institution, data=data)
    ensure_institution_placed_in_scope(session, principal, institution, home)
    changes = diff("institution", before, snapshot(institution), INSTITUTION_CODES)
    audit(
        session=session,
        principal=principal,
        action="institution.update",
        request=request,
        detail=f"institution {institution.id}",
        changes=changes + ([STAFF_CHANGED] if data.staff_contacts is not None else []),
    )
    return institutions.to_public(session, [institution])[0]


@router.put("/institutions/{institution_id}/designations", response_model=InstitutionPublic)
def put_designations(
    institution_id: int, data: DesignationsPut, request: Request, principal: ScopeDecider, session: SessionDep
):
    """Replace an institution's designations (admin, or the prefecture for its own institutions); audited."""
    institution = institutions.get_institution(session=session, institution_id=institution_id)
    designations.set_designations(
        session=session, principal=principal, institution=institution, designations=data.designations, request=request
    )
    return institutions.to_public(session, [institution])[0]


@router.put("/institutions/{institution_id}/hub-municipalities", response_model=InstitutionPublic)
def put_hub_municipalities(
    institution_id: int, data: HubMunicipalitiesPut, request: Request, principal: ScopeDecider, session: SessionDep
):
    """Replace the municipalities a hub covers directly (admin, or the prefecture inside itself); audited."""
    institution = institutions.get_institution(session=session, institution_id=institution_id)
    designations.set_hub_municipalities(
        session=session,
        principal=principal,
        institution=institution,
        municipality_ids=data.hub_municipality_ids,
        request=request,
    )
    return institutions.to_public(session, [institution])[0]


@router.get("/patients", response_model=Page[PatientPublic])
def list_patients(
    request: Request,
    principal: Identified,
    session: SessionDep,
    prefecture_id: int | None = None,
    region_id: int | None = None,
    municipality_id: int | None = None,
    hub_id: int | None = None,
    institution_id: int | None = None,
    therapy: Therapy | None = None,
    risk_tier: RiskTier | None = None,
    status: PatientStatus | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name or kana contains")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    filters = patients.PatientFilters(
        prefecture_id=prefecture_id,
        region_id=region_id,
        municipality_id=municipality_id,
        hub_id=hub_id,
        institution_id=institution_id,
        therapy=therapy,
        risk_tier=risk_tier,
        status=status,
        q=q,
    )
    rows, total = patients.list_patients(
        session=session, filters=filters, scope=patient_scope(principal), limit=limit, offset=offset
    )
    audit(
        session=session, principal=principal, action="patient.list", patient_ids=[p.id for p in rows], request=request
    )
    return Page(items=patient_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/patients", response_model=PatientPublic, status_code=status.HTTP_201_CREATED)
def create_patient(data: PatientCreate, request: Request, principal: PatientEditor, session: SessionDep):
    patient = patients.create_patient(session=session, principal=principal, data=data)
    ensure_patient_in_scope(session, principal, patient)
    audit(session=session, principal=principal, action="patient.create", patient_ids=[patient.id], request=request)
    return patient_public(session, [patient])[0]


@router.get("/patients/{patient_id}", response_model=PatientPublic)
def get_patient(patient_id: int, request: Request, principal: Identified, session: SessionDep):
    patient = patients.get_patient(session=session, patient_id=patient_id, scope=patient_scope(principal))
    audit(session=session, principal=principal, action="patient.read", patient_ids=[patient.id], request=request)
    return patient_public(session, [patient])[0]


@router.patch("/patients/{patient_id}", response_model=PatientPublic)
def update_patient(
    patient_id: int, data: PatientUpdate, request: Request, principal: PatientEditor, session: SessionDep
):
    patient = patients.get_patient(session=session, patient_id=patient_id, scope=patient_scope(principal))
    before = snapshot(patient)
    patient = patients.update_patient(session=session, principal=principal, patient=patient, data=data)
    ensure_patient_in_scope(session, principal, patient, moved_from=before["municipality_id"])
    changes = diff("patient", before, snapshot(patient), PATIENT_CODES) + (
        [CONTACTS_CHANGED] if data.contacts is not None else []
    )
    audit(
        session=session,
        principal=principal,
        action="patient.update",
        patient_ids=[patient.id],
        request=request,
        changes=changes,
    )
    return patient_public(session, [patient])[0]


@router.get("/coverage-gaps", response_model=CoverageGapReport)
def coverage_gaps(principal: AnyRole, session: SessionDep, prefecture_id: int | None = None):
    return find_coverage_gaps(session=session, prefecture_id=prefecture_id)


@router.get("/stats/patients", response_model=PatientStats)
def patient_stats(request: Request, principal: AnyRole, session: SessionDep, prefecture_id: int | None = None):
    """Active patients counted by municipality. The aggregate role sees small counts suppressed."""
    min_cell = request.app.state.settings.aggregate_min_cell
    return count_patients_by_area(session=session, principal=principal, prefecture_id=prefecture_id, min_cell=min_cell)


def _change_contacts(
    patient_id: int, request: Request, principal: Principal, session: Session, change
) -> PatientPublic:
    """One contact changed by ``change(patient)``, in scope and audited like any patient update."""
    patient = patients.get_patient(session=session, patient_id=patient_id, scope=patient_scope(principal))
    change(patient)
    audit(
        session=session,
        principal=principal,
        action="patient.update",
        patient_ids=[patient.id],
        request=request,
        changes=[CONTACTS_CHANGED],
    )
    return patient_public(session, [patient])[0]


@router.post("/patients/{patient_id}/contacts", response_model=PatientPublic, status_code=status.HTTP_201_CREATED)
def add_patient_contact(
    patient_id: int, data: PatientContactIn, request: Request, principal: PatientEditor, session: SessionDep
):
    """連絡先を1件追加します。ほかの連絡先はそのままです (adds one contact, keeps the others)."""
    return _change_contacts(
        patient_id,
        request,
        principal,
        session,
        lambda patient: contacts.add_contact(session=session, patient=patient, data=data),
    )


@router.put("/patients/{patient_id}/contacts/{contact_id}", response_model=PatientPublic)
def update_patient_contact(
    patient_id: int,
    contact_id: int,
    data: PatientContactIn,
    request: Request,
    principal: PatientEditor,
    session: SessionDep,
):
    """連絡先を1件修正します (corrects one contact; a new phone clears its failed mark)."""

    def change(patient):
        contact = contacts.get_contact(session=session, patient=patient, contact_id=contact_id)
        contacts.update_contact(session=session, patient=patient, contact=contact, data=data)

    return _change_contacts(patient_id, request, principal, session, change)


@router.delete("/patients/{patient_id}/contacts/{contact_id}", response_model=PatientPublic)
def remove_patient_contact(
    patient_id: int, contact_id: int, request: Request, principal: PatientEditor, session: SessionDep
):
    """連絡先を1件削除します (removes one contact; the others keep their order)."""

    def change(patient):
        contact = contacts.get_contact(session=session, patient=patient, contact_id=contact_id)
        contacts.remove_contact(session=session, patient=patient, contact=contact)

    return _change_contacts(patient_id, request, principal, session, change)
