"""Plain helpers that create rows with sensible defaults; pass overrides as keywords."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Patient,
    PatientContact,
    Prefecture,
)
from bcp_service.registry.risk import RiskInputs, derive_risk_tier
from bcp_service.registry.schemas import check_digit

_counter = itertools.count(1)


def create_prefecture(session: Session, **overrides) -> Prefecture:
    n = next(_counter)
    prefecture = Prefecture(**{"code": f"{(n % 89) + 10}", "name": f"テスト県{n}", **overrides})
    session.add(prefecture)
    session.flush()
    return prefecture


def create_municipality(session: Session, prefecture: Prefecture, **overrides) -> Municipality:
    n = next(_counter)
    five = f"{prefecture.code}{(n % 900) + 100}"
    municipality = Municipality(
        **{"code": five + check_digit(five), "name": f"テスト市{n}", "prefecture_id": prefecture.id, **overrides}
    )
    session.add(municipality)
    session.flush()
    return municipality


def create_region(session: Session, prefecture: Prefecture, municipalities: list[Municipality], **overrides) -> HomeCareRegion:
    region = HomeCareRegion(**{"prefecture_id": prefecture.id, "name": f"テスト圏域{next(_counter)}", **overrides})
    session.add(region)
    session.flush()
    for municipality in municipalities:
        session.add(HomeCareRegionMunicipality(region_id=region.id, municipality_id=municipality.id))
    session.flush()
    return region


def create_institution(session: Session, municipality: Municipality, **overrides) -> Institution:
    institution = Institution(
        **{"name": f"テスト診療所{next(_counter)}", "kind": "home_care_support_clinic", "municipality_id": municipality.id, **overrides}
    )
    session.add(institution)
    session.flush()
    return institution


def designate(session: Session, institution: Institution, region: HomeCareRegion, kind: str, covers: list[Municipality] = ()) -> None:
    session.add(Designation(institution_id=institution.id, region_id=region.id, kind=kind))
    for municipality in covers:
        session.add(HubMunicipality(institution_id=institution.id, municipality_id=municipality.id))
    session.flush()


def create_patient(session: Session, municipality: Municipality, *, phones: list[str] = ("+819012345678",), **overrides) -> Patient:
    n = next(_counter)
    values = {"name": f"試験 患者{n}", "name_kana": f"シケン カンジャ{n}", "municipality_id": municipality.id,
              "uses_oxygen": True, "oxygen_source": "concentrator", "cylinder_hours": 4.0, **overrides}
    patient = Patient(**values)
    patient.risk_tier = derive_risk_tier(RiskInputs(**{k: getattr(patient, k) for k in RiskInputs.__dataclass_fields__}))
    session.add(patient)
    session.flush()
    for position, phone in enumerate(phones, start=1):
        session.add(PatientContact(patient_id=patient.id, position=position, kind="self" if position == 1 else "family", phone=phone))
    session.flush()
    return patient
