"""Registry API: regions, municipalities, institutions, patients, coverage gaps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlmodel import Session

from bcp_service.db import get_session
from bcp_service.models.enums import DesignationKind, InstitutionKind, PatientStatus, RiskTier, Therapy
from bcp_service.registry import areas, institutions, patients
from bcp_service.registry.coverage import find_coverage_gaps
from bcp_service.registry.schemas import (
    CoverageGapReport,
    InstitutionCreate,
    InstitutionPublic,
    InstitutionUpdate,
    MunicipalityCreate,
    MunicipalityPublic,
    MunicipalityUpdate,
    Page,
    PatientContactPublic,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
    RegionCreate,
    RegionPublic,
    RegionUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["registry"])
SessionDep = Annotated[Session, Depends(get_session)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]


def patient_public(session: Session, rows: list) -> list[PatientPublic]:
    contacts = patients.contacts_for(session=session, patient_ids=[p.id for p in rows])
    return [
        PatientPublic(
            **p.model_dump(),
            contacts=[PatientContactPublic.model_validate(c) for c in contacts.get(p.id, [])],
        )
        for p in rows
    ]


@router.get("/regions", response_model=Page[RegionPublic])
def list_regions(
    session: SessionDep, prefecture_id: int | None = None, municipality_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None, limit: Limit = 50, offset: Offset = 0,
):
    rows, total = areas.list_regions(
        session=session, prefecture_id=prefecture_id, municipality_id=municipality_id, q=q, limit=limit, offset=offset
    )
    return Page(items=areas.regions_to_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/regions", response_model=RegionPublic, status_code=status.HTTP_201_CREATED)
def create_region(data: RegionCreate, session: SessionDep):
    region = areas.create_region(session=session, data=data)
    return areas.regions_to_public(session, [region])[0]


@router.get("/regions/{region_id}", response_model=RegionPublic)
def get_region(region_id: int, session: SessionDep):
    return areas.regions_to_public(session, [areas.get_region(session=session, region_id=region_id)])[0]


@router.patch("/regions/{region_id}", response_model=RegionPublic)
def update_region(region_id: int, data: RegionUpdate, session: SessionDep):
    region = areas.update_region(session=session, region=areas.get_region(session=session, region_id=region_id), data=data)
    return areas.regions_to_public(session, [region])[0]


@router.get("/municipalities", response_model=Page[MunicipalityPublic])
def list_municipalities(
    session: SessionDep, prefecture_id: int | None = None, region_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None, limit: Limit = 100, offset: Offset = 0,
):
    rows, total = areas.list_municipalities(
        session=session, prefecture_id=prefecture_id, region_id=region_id, q=q, limit=limit, offset=offset
    )
    return Page(items=rows, total=total, limit=limit, offset=offset)


@router.post("/municipalities", response_model=MunicipalityPublic, status_code=status.HTTP_201_CREATED)
def create_municipality(data: MunicipalityCreate, session: SessionDep):
    return areas.create_municipality(session=session, data=data)


@router.get("/municipalities/{municipality_id}", response_model=MunicipalityPublic)
def get_municipality(municipality_id: int, session: SessionDep):
    return areas.get_municipality(session=session, municipality_id=municipality_id)


@router.patch("/municipalities/{municipality_id}", response_model=MunicipalityPublic)
def update_municipality(municipality_id: int, data: MunicipalityUpdate, session: SessionDep):
    municipality = areas.get_municipality(session=session, municipality_id=municipality_id)
    return areas.update_municipality(session=session, municipality=municipality, data=data)


@router.get("/institutions", response_model=Page[InstitutionPublic])
def list_institutions(
    session: SessionDep, prefecture_id: int | None = None, region_id: int | None = None,
    municipality_id: int | None = None, kind: InstitutionKind | None = None,
    designation: DesignationKind | None = None, q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50, offset: Offset = 0,
):
    filters = institutions.InstitutionFilters(
        prefecture_id=prefecture_id, region_id=region_id, municipality_id=municipality_id,
        kind=kind, designation=designation, q=q,
    )
    rows, total = institutions.list_institutions(session=session, filters=filters, limit=limit, offset=offset)
    return Page(items=institutions.to_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/institutions", response_model=InstitutionPublic, status_code=status.HTTP_201_CREATED)
def create_institution(data: InstitutionCreate, session: SessionDep):
    institution = institutions.create_institution(session=session, data=data)
    return institutions.to_public(session, [institution])[0]


@router.get("/institutions/{institution_id}", response_model=InstitutionPublic)
def get_institution(institution_id: int, session: SessionDep):
    return institutions.to_public(session, [institutions.get_institution(session=session, institution_id=institution_id)])[0]


@router.patch("/institutions/{institution_id}", response_model=InstitutionPublic)
def update_institution(institution_id: int, data: InstitutionUpdate, session: SessionDep):
    institution = institutions.get_institution(session=session, institution_id=institution_id)
    institution = institutions.update_institution(session=session, institution=institution, data=data)
    return institutions.to_public(session, [institution])[0]


@router.get("/patients", response_model=Page[PatientPublic])
def list_patients(
    session: SessionDep, prefecture_id: int | None = None, region_id: int | None = None,
    municipality_id: int | None = None, hub_id: int | None = None, institution_id: int | None = None,
    therapy: Therapy | None = None, risk_tier: RiskTier | None = None, status: PatientStatus | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name or kana contains")] = None,
    limit: Limit = 50, offset: Offset = 0,
):
    filters = patients.PatientFilters(
        prefecture_id=prefecture_id, region_id=region_id, municipality_id=municipality_id, hub_id=hub_id,
        institution_id=institution_id, therapy=therapy, risk_tier=risk_tier, status=status, q=q,
    )
    rows, total = patients.list_patients(session=session, filters=filters, limit=limit, offset=offset)
    return Page(items=patient_public(session, rows), total=total, limit=limit, offset=offset)


@router.post("/patients", response_model=PatientPublic, status_code=status.HTTP_201_CREATED)
def create_patient(data: PatientCreate, session: SessionDep):
    return patient_public(session, [patients.create_patient(session=session, data=data)])[0]


@router.get("/patients/{patient_id}", response_model=PatientPublic)
def get_patient(patient_id: int, session: SessionDep):
    return patient_public(session, [patients.get_patient(session=session, patient_id=patient_id)])[0]


@router.patch("/patients/{patient_id}", response_model=PatientPublic)
def update_patient(patient_id: int, data: PatientUpdate, session: SessionDep):
    patient = patients.get_patient(session=session, patient_id=patient_id)
    return patient_public(session, [patients.update_patient(session=session, patient=patient, data=data)])[0]


@router.get("/coverage-gaps", response_model=CoverageGapReport)
def coverage_gaps(session: SessionDep, prefecture_id: int | None = None):
    return find_coverage_gaps(session=session, prefecture_id=prefecture_id)
