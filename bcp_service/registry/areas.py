"""Home-care regions and municipalities."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.errors import Conflict, FieldError, NotFound
from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    Institution,
    LocalMedicalAssociation,
    Municipality,
    PublicHealthCenterDistrict,
    SecondaryMedicalArea,
)
from bcp_service.registry.references import require_municipalities, require_prefecture, require_row
from bcp_service.registry.schemas import (
    DesignationPublic,
    MunicipalityCreate,
    MunicipalityUpdate,
    RegionCreate,
    RegionPublic,
    RegionUpdate,
)


def list_regions(
    *,
    session: Session,
    prefecture_id: int | None = None,
    municipality_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[HomeCareRegion], int]:
    conditions = []
    if prefecture_id is not None:
        conditions.append(HomeCareRegion.prefecture_id == prefecture_id)
    if municipality_id is not None:
        containing = select(HomeCareRegionMunicipality.region_id).where(
            HomeCareRegionMunicipality.municipality_id == municipality_id
        )
        conditions.append(col(HomeCareRegion.id).in_(containing))
    if q:
        conditions.append(col(HomeCareRegion.name).contains(q.strip(), autoescape=True))
    total = session.exec(select(func.count()).select_from(HomeCareRegion).where(*conditions)).one()
    rows = session.exec(
        select(HomeCareRegion).where(*conditions).order_by(HomeCareRegion.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_region(*, session: Session, region_id: int) -> HomeCareRegion:
    region = session.get(HomeCareRegion, region_id)
    if region is None:
        raise NotFound("在宅医療圏が見つかりません (region not found)")
    return region


def regions_to_public(session: Session, regions: list[HomeCareRegion]) -> list[RegionPublic]:
    ids = [r.id for r in regions]
    members: dict[int, list[int]] = defaultdict(list)
    designations: dict[int, list[DesignationPublic]] = defaultdict(list)
    if ids:
        for link in session.exec(
            select(HomeCareRegionMunicipality).where(col(HomeCareRegionMunicipality.region_id).in_(ids))
        ):
            members[link.region_id].append(link.municipality_id)
        rows = session.exec(
            select(Designation, Institution.name)
            .join(Institution, Institution.id == Designation.institution_id)
            .where(col(Designation.region_id).in_(ids))
            .order_by(Designation.kind, Institution.name)
        )
        for designation, name in rows:
            designations[designation.region_id].append(
                DesignationPublic(
                    institution_id=designation.institution_id, institution_name=name, kind=designation.kind
                )
            )
    return [
        RegionPublic(
            id=r.id,
            prefecture_id=r.prefecture_id,
            name=r.name,
            notes=r.notes,
            municipality_ids=sorted(members[r.id]),
            designations=designations[r.id],
        )
        for r in regions
    ]


def _check_region_name(session: Session, prefecture_id: int, name: str, own_id: int | None = None) -> None:
    existing = session.exec(
        select(HomeCareRegion.id).where(HomeCareRegion.prefecture_id == prefecture_id, HomeCareRegion.name == name)
    ).first()
    if existing is not None and existing != own_id:
        raise Conflict("同じ名前の在宅医療圏があります (region name already exists)", field="name")


def region_member_ids(session: Session, region_id: int) -> list[int]:
    """The region's municipalities, sorted (the audit log's before and after of a redraw)."""
    query = select(HomeCareRegionMunicipality.municipality_id).where(HomeCareRegionMunicipality.region_id == region_id)
    return sorted(session.exec(query).all())


def _set_members(session: Session, region: HomeCareRegion, municipality_ids: list[int]) -> None:
    # A region holds only its own prefecture's municipalities (issue 23): another's is refused as unknown.
    region_id = region.id
    wanted = require_municipalities(session, municipality_ids, "municipality_ids", prefecture_id=region.prefecture_id)
    for link in session.exec(
        select(HomeCareRegionMunicipality).where(HomeCareRegionMunicipality.region_id == region_id)
    ):
        session.delete(link)
    session.flush()
    for municipality_id in wanted:
        session.add(HomeCareRegionMunicipality(region_id=region_id, municipality_id=municipality_id))


def create_region(*, session: Session, data: RegionCreate) -> HomeCareRegion:
    require_prefecture(session, data.prefecture_id)
    _check_region_name(session, data.prefecture_id, data.name)
    region = HomeCareRegion(prefecture_id=data.prefecture_id, name=data.name, notes=data.notes)
    session.add(region)
    session.flush()
    _set_members(session, region, data.municipality_ids)
    session.flush()
    return region


def update_region(*, session: Session, region: HomeCareRegion, data: RegionUpdate) -> HomeCareRegion:
    if data.name is not None:
        _check_region_name(session, region.prefecture_id, data.name, own_id=region.id)
        region.name = data.name
    if "notes" in data.model_fields_set:
        region.notes = data.notes
    session.add(region)
    if data.municipality_ids is not None:
        _set_members(session, region, data.municipality_ids)
    session.flush()
    return region


def list_municipalities(
    *,
    session: Session,
    prefecture_id: int | None = None,
    region_id: int | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Municipality], int]:
    conditions = []
    if prefecture_id is not None:
        conditions.append(Municipality.prefecture_id == prefecture_id)
    if region_id is not None:
        members = select(HomeCareRegionMunicipality.municipality_id).where(
            HomeCareRegionMunicipality.region_id == region_id
        )
        conditions.append(col(Municipality.id).in_(members))
    if q:
        conditions.append(col(Municipality.name).contains(q.strip(), autoescape=True))
    total = session.exec(select(func.count()).select_from(Municipality).where(*conditions)).one()
    rows = session.exec(
        select(Municipality).where(*conditions).order_by(Municipality.code).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_municipality(*, session: Session, municipality_id: int) -> Municipality:
    municipality = session.get(Municipality, municipality_id)
    if municipality is None:
        raise NotFound("市町村が見つかりません (municipality not found)")
    return municipality


def _check_area_refs(session: Session, data: MunicipalityCreate | MunicipalityUpdate, prefecture_id: int) -> None:
    """The areas named are the municipality's own prefecture's (another's is refused as unknown)."""
    require_row(
        session, SecondaryMedicalArea, data.secondary_medical_area_id, "secondary_medical_area_id", prefecture_id
    )
    require_row(
        session,
        PublicHealthCenterDistrict,
        data.public_health_center_district_id,
        "public_health_center_district_id",
        prefecture_id,
    )
    require_row(
        session,
        LocalMedicalAssociation,
        data.local_medical_association_id,
        "local_medical_association_id",
        prefecture_id,
    )


CODE_OF_ANOTHER = (
    "市町村コードの上2桁がこの都道府県のコードと一致しません (the code must begin with the prefecture's JIS code)"
)


def create_municipality(*, session: Session, data: MunicipalityCreate) -> Municipality:
    prefecture = require_prefecture(session, data.prefecture_id)
    # Codes are per prefecture (JIS X 0402 begins with the JIS X 0401 code): a prefecture cannot take another's.
    if not data.code.startswith(prefecture.code.zfill(2)):
        raise FieldError(CODE_OF_ANOTHER, field="code")
    _check_area_refs(session, data, data.prefecture_id)
    if session.exec(select(Municipality.id).where(Municipality.code == data.code)).first() is not None:
        raise Conflict("この市町村コードは登録済みです (municipality code already exists)", field="code")
    municipality = Municipality(**data.model_dump())
    session.add(municipality)
    session.flush()
    return municipality


def update_municipality(*, session: Session, municipality: Municipality, data: MunicipalityUpdate) -> Municipality:
    _check_area_refs(session, data, municipality.prefecture_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        if field == "name" and value is None:
            continue
        setattr(municipality, field, value)
    session.add(municipality)
    session.flush()
    return municipality


def region_snapshot(session: Session, region: HomeCareRegion) -> dict:
    """What an audit keeps of a region: name and member ids (no personal data)."""
    members = session.exec(
        select(HomeCareRegionMunicipality.municipality_id)
        .where(HomeCareRegionMunicipality.region_id == region.id)
        .order_by(HomeCareRegionMunicipality.municipality_id)
    ).all()
    return {"name": region.name, "municipality_ids": list(members)}


def municipality_snapshot(municipality: Municipality) -> dict:
    return {
        key: getattr(municipality, key)
        for key in (
            "code",
            "name",
            "prefecture_id",
            "secondary_medical_area_id",
            "public_health_center_district_id",
            "local_medical_association_id",
        )
    }
