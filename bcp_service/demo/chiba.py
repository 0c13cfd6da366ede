"""The built-in Chiba demo structure, from MHLW reference data (see data/README.md).

What comes from the source: the 9 secondary medical areas, 16 public-health-centre districts,
22 local medical associations, and facility counts per association. What the demo assigns
itself, plausibly, because the source does not say: which municipality belongs to which
district and association (``membership_source = "demo_assigned"``), which 43 municipalities
have a hub (the per-area counts match the source), the home-care regions (one per medical
association area), and every institution name (all marked 【デモ】 and fictitious).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    LocalMedicalAssociation,
    Municipality,
    Prefecture,
    PublicHealthCenterDistrict,
    SecondaryMedicalArea,
)
from bcp_service.models.enums import DesignationKind, InstitutionKind

DATA_DIR = Path(__file__).parent / "data"
DEMO_MARK = "【デモ】"
MAX_ACTIVE_CLINICS_PER_REGION = 3


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class DemoStructure:
    prefecture_id: int
    region_ids: dict[str, int] = field(default_factory=dict)
    municipality_ids: dict[str, int] = field(default_factory=dict)
    municipality_region: dict[int, int] = field(default_factory=dict)
    municipality_area: dict[int, int] = field(default_factory=dict)


def load_chiba(session: Session) -> DemoStructure:
    """Create the Chiba structure and fictitious institutions. Idempotent: returns what exists."""
    existing = session.exec(select(Prefecture).where(Prefecture.code == "12")).first()
    if existing is not None:
        return _existing_structure(session, existing.id)
    prefecture = Prefecture(code="12", name="千葉県")
    session.add(prefecture)
    session.flush()
    structure = DemoStructure(prefecture_id=prefecture.id)

    areas: dict[str, SecondaryMedicalArea] = {}
    for row in read_csv("chiba_secondary_medical_areas.csv"):
        areas[row["secondary_medical_area"]] = SecondaryMedicalArea(
            prefecture_id=prefecture.id, name=row["secondary_medical_area"]
        )
    session.add_all(areas.values())
    session.flush()

    districts: dict[str, PublicHealthCenterDistrict] = {}
    for row in read_csv("chiba_facilities_by_public_health_center.csv"):
        districts[row["public_health_center"]] = PublicHealthCenterDistrict(
            prefecture_id=prefecture.id,
            name=row["public_health_center"],
            secondary_medical_area_id=areas[row["secondary_medical_area"]].id,
        )
    session.add_all(districts.values())
    session.flush()

    associations = read_csv("chiba_facilities_by_medical_association.csv")
    association_rows: dict[str, LocalMedicalAssociation] = {}
    for row in associations:
        association_rows[row["local_medical_association"]] = LocalMedicalAssociation(
            prefecture_id=prefecture.id,
            name=row["local_medical_association"],
            secondary_medical_area_id=areas[row["secondary_medical_area"]].id,
            public_health_center_district_id=districts[row["public_health_center"]].id,
        )
    session.add_all(association_rows.values())
    session.flush()

    by_association: dict[str, list[Municipality]] = {}
    hub_municipalities: set[int] = set()
    for row in read_csv("chiba_municipalities.csv"):
        association = association_rows[row["local_medical_association"]]
        municipality = Municipality(
            code=row["code"],
            name=row["name"],
            prefecture_id=prefecture.id,
            secondary_medical_area_id=association.secondary_medical_area_id,
            public_health_center_district_id=association.public_health_center_district_id,
            local_medical_association_id=association.id,
            membership_source="demo_assigned",
        )
        session.add(municipality)
        session.flush()
        by_association.setdefault(row["local_medical_association"], []).append(municipality)
        structure.municipality_ids[municipality.code] = municipality.id
        structure.municipality_area[municipality.id] = association.secondary_medical_area_id
        if row["has_hub"] == "1":
            hub_municipalities.add(municipality.id)

    for row in associations:
        name = row["local_medical_association"]
        members = by_association[name]
        region = HomeCareRegion(
            prefecture_id=prefecture.id,
            name=f"{name.removesuffix('医師会')}在宅医療圏",
            notes="デモ用: 地区医師会の区域を在宅医療圏とした (demo assignment, not from the source data)",
        )
        session.add(region)
        session.flush()
        structure.region_ids[region.name] = region.id
        for municipality in members:
            session.add(HomeCareRegionMunicipality(region_id=region.id, municipality_id=municipality.id))
            structure.municipality_region[municipality.id] = region.id
        _add_institutions(session, row, region, members, hub_municipalities, districts)
    _add_public_bodies(session, by_association, districts)
    session.flush()
    return structure


def _institution(
    session: Session, name: str, kind: InstitutionKind, municipality: Municipality, **extra
) -> Institution:
    institution = Institution(
        name=f"{DEMO_MARK}{name}",
        kind=kind,
        municipality_id=municipality.id,
        address=f"千葉県{municipality.name}（架空の住所）",
        **extra,
    )
    session.add(institution)
    return institution


def _add_institutions(session, row, region, members, hub_municipalities, districts) -> None:
    """Facility counts as in the source, spread round-robin over the association's municipalities."""

    def spot(index: int) -> Municipality:
        return members[index % len(members)]

    base = members[0].name.removesuffix("市").removesuffix("町").removesuffix("村")
    enhanced_hospitals = int(row["enhanced_home_care_support_hospitals"])
    all_hospitals = int(row["home_care_support_hospitals_all"])
    active: list[Institution] = []
    for i in range(all_hospitals):
        enhanced = i < enhanced_hospitals
        institution = _institution(
            session,
            f"{base}あおば{'機能強化型' if enhanced else ''}在宅支援病院{i + 1}",
            InstitutionKind.home_care_support_hospital,
            spot(i),
            enhanced=enhanced,
            open_24h=True,
        )
        if enhanced:
            active.append(institution)
    clinics = [
        _institution(
            session,
            f"{base}みどり在宅クリニック{i + 1}",
            InstitutionKind.home_care_support_clinic,
            spot(i),
            enhanced=True,
            open_24h=True,
        )
        for i in range(int(row["enhanced_home_care_support_clinics"]))
    ]
    active.extend(clinics[:MAX_ACTIVE_CLINICS_PER_REGION])
    for i in range(int(row["home_care_backup_hospitals"])):
        _institution(
            session, f"{base}さくら後方支援病院{i + 1}", InstitutionKind.backup_hospital, spot(i), open_24h=True
        )
    enhanced_stations = int(row["enhanced_visiting_nurse_stations"])
    for i in range(enhanced_stations + 2):
        _institution(
            session,
            f"{base}ひまわり訪問看護ステーション{i + 1}",
            InstitutionKind.visiting_nurse_station,
            spot(i),
            enhanced=i < enhanced_stations,
            open_24h=i < enhanced_stations,
        )
    _institution(session, f"{base}ふたば薬局", InstitutionKind.pharmacy, spot(0))
    association = _institution(
        session,
        f"{row['local_medical_association']}（在宅医療連携拠点）",
        InstitutionKind.medical_association,
        members[0],
    )
    session.flush()
    for institution in active:
        session.add(
            Designation(institution_id=institution.id, region_id=region.id, kind=DesignationKind.active_institution)
        )
    covered = [m for m in members if m.id in hub_municipalities]
    if covered:
        session.add(Designation(institution_id=association.id, region_id=region.id, kind=DesignationKind.hub))
        for municipality in covered:
            session.add(HubMunicipality(institution_id=association.id, municipality_id=municipality.id))


def _add_public_bodies(session, by_association, districts) -> None:
    seen_districts: set[int] = set()
    for members in by_association.values():
        for municipality in members:
            _institution(
                session,
                f"{municipality.name}役所（在宅医療・介護連携）",
                InstitutionKind.municipal_office,
                municipality,
            )
            district_id = municipality.public_health_center_district_id
            if district_id not in seen_districts:
                seen_districts.add(district_id)
                district = session.get(PublicHealthCenterDistrict, district_id)
                _institution(session, f"{district.name}保健所", InstitutionKind.public_health_center, municipality)
                _institution(session, f"{district.name}消防本部", InstitutionKind.fire_ems_agency, municipality)
    session.add(
        Institution(
            name=f"{DEMO_MARK}ちば在宅酸素サービス",
            kind=InstitutionKind.equipment_supplier,
            municipality_id=by_association["千葉市医師会"][0].id,
            address="千葉県千葉市（架空の住所）",
        )
    )


def _existing_structure(session: Session, prefecture_id: int) -> DemoStructure:
    structure = DemoStructure(prefecture_id=prefecture_id)
    for municipality in session.exec(select(Municipality).where(Municipality.prefecture_id == prefecture_id)):
        structure.municipality_ids[municipality.code] = municipality.id
        structure.municipality_area[municipality.id] = municipality.secondary_medical_area_id
    for region in session.exec(select(HomeCareRegion).where(HomeCareRegion.prefecture_id == prefecture_id)):
        structure.region_ids[region.name] = region.id
    for link in session.exec(select(HomeCareRegionMunicipality)):
        structure.municipality_region[link.municipality_id] = link.region_id
    return structure
