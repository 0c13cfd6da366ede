"""Institutions with their staff contact tree, designations and hub coverage."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from bcp_service.errors import Conflict, Forbidden, NotFound
from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    InstitutionContact,
    Municipality,
    Prefecture,
)
from bcp_service.models.base import utcnow
from bcp_service.models.enums import INSTITUTION_KIND_JA, DesignationKind, InstitutionKind
from bcp_service.registry.designation_rules import check_designation, load_rules
from bcp_service.registry.references import require_municipalities, require_municipality, require_region
from bcp_service.registry.schemas import (
    DesignationIn,
    InstitutionCreate,
    InstitutionPublic,
    InstitutionUpdate,
    StaffContactIn,
    StaffContactPublic,
)


@dataclass
class InstitutionFilters:
    prefecture_id: int | None = None
    region_id: int | None = None
    municipality_id: int | None = None
    kind: InstitutionKind | None = None
    designation: DesignationKind | None = None
    q: str | None = None


def filter_conditions(filters: InstitutionFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.prefecture_id is not None:
        in_prefecture = select(Municipality.id).where(Municipality.prefecture_id == filters.prefecture_id)
        conditions.append(col(Institution.municipality_id).in_(in_prefecture))
    if filters.region_id is not None:
        in_region = select(HomeCareRegionMunicipality.municipality_id).where(
            HomeCareRegionMunicipality.region_id == filters.region_id
        )
        designated = select(Designation.institution_id).where(Designation.region_id == filters.region_id)
        conditions.append(or_(col(Institution.municipality_id).in_(in_region), col(Institution.id).in_(designated)))
    if filters.municipality_id is not None:
        conditions.append(Institution.municipality_id == filters.municipality_id)
    if filters.kind is not None:
        conditions.append(Institution.kind == filters.kind)
    if filters.designation is not None:
        designated = select(Designation.institution_id).where(Designation.kind == filters.designation)
        conditions.append(col(Institution.id).in_(designated))
    if filters.q:
        conditions.append(col(Institution.name).contains(filters.q.strip(), autoescape=True))
    return conditions


def list_institutions(
    *, session: Session, filters: InstitutionFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Institution], int]:
    conditions = filter_conditions(filters)
    total = session.exec(select(func.count()).select_from(Institution).where(*conditions)).one()
    rows = session.exec(
        select(Institution).where(*conditions).order_by(Institution.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_institution(*, session: Session, institution_id: int) -> Institution:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise NotFound("施設が見つかりません (institution not found)")
    return institution


def to_public(session: Session, institutions: list[Institution]) -> list[InstitutionPublic]:
    ids = [i.id for i in institutions]
    contacts: dict[int, list[InstitutionContact]] = defaultdict(list)
    designations: dict[int, list[Designation]] = defaultdict(list)
    coverage: dict[int, list[int]] = defaultdict(list)
    if ids:
        for contact in session.exec(
            select(InstitutionContact)
            .where(col(InstitutionContact.institution_id).in_(ids))
            .order_by(InstitutionContact.position)
        ):
            contacts[contact.institution_id].append(contact)
        for designation in session.exec(select(Designation).where(col(Designation.institution_id).in_(ids))):
            designations[designation.institution_id].append(designation)
        for link in session.exec(select(HubMunicipality).where(col(HubMunicipality.institution_id).in_(ids))):
            coverage[link.institution_id].append(link.municipality_id)
    return [
        InstitutionPublic(
            **institution.model_dump(),
            kind_ja=INSTITUTION_KIND_JA.get(institution.kind, institution.kind),
            staff_contacts=[StaffContactPublic.model_validate(c) for c in contacts[institution.id]],
            designations=[DesignationIn(region_id=d.region_id, kind=d.kind) for d in designations[institution.id]],
            hub_municipality_ids=sorted(coverage[institution.id]),
        )
        for institution in institutions
    ]


def check_external_id(session: Session, external_id: str | None, own_id: int | None = None) -> None:
    if external_id is None:
        return
    existing = session.exec(select(Institution.id).where(Institution.external_id == external_id)).first()
    if existing is not None and existing != own_id:
        raise Conflict("external_id は既に使われています (external_id already exists)", field="external_id")


def replace_staff_contacts(session: Session, institution_id: int, contacts: list[StaffContactIn]) -> None:
    for contact in session.exec(select(InstitutionContact).where(InstitutionContact.institution_id == institution_id)):
        session.delete(contact)
    session.flush()
    for position, contact in enumerate(contacts, start=1):
        session.add(InstitutionContact(institution_id=institution_id, position=position, **contact.model_dump()))


def replace_designations(session: Session, institution_id: int, designations: list[DesignationIn]) -> None:
    institution = session.get(Institution, institution_id)
    regions = [
        require_region(session, d.region_id, f"designations.{index}.region_id") for index, d in enumerate(designations)
    ]
    check_designation_rules(session, institution, [(r, d.kind) for r, d in zip(regions, designations, strict=True)])
    for existing in session.exec(select(Designation).where(Designation.institution_id == institution_id)):
        session.delete(existing)
    session.flush()
    unique = {(d.region_id, d.kind) for d in designations}
    for region_id, kind in sorted(unique):
        session.add(Designation(institution_id=institution_id, region_id=region_id, kind=kind))


def check_designation_rules(session: Session, institution: Institution, held: list) -> None:
    """Each (region, designation) against the region's prefecture's rules (registry.designation_rules)."""
    if not held:
        return
    codes = prefecture_codes(session, {region.prefecture_id for region, _ in held})
    book = load_rules(session, set(codes.values()))
    for index, (region, kind) in enumerate(held):
        check_designation(
            book,
            prefecture_code=codes.get(region.prefecture_id),
            designation=str(kind),
            kind=institution.kind,
            enhanced=bool(institution.enhanced),
            field=f"designations.{index}.kind",
        )


def prefecture_codes(session: Session, prefecture_ids: set[int]) -> dict[int, str]:
    if not prefecture_ids:
        return {}
    return dict(
        session.exec(select(Prefecture.id, Prefecture.code).where(col(Prefecture.id).in_(sorted(prefecture_ids)))).all()
    )


def replace_hub_coverage(session: Session, institution_id: int, municipality_ids: list[int]) -> None:
    wanted = require_municipalities(session, municipality_ids, "hub_municipality_ids")
    for link in session.exec(select(HubMunicipality).where(HubMunicipality.institution_id == institution_id)):
        session.delete(link)
    session.flush()
    for municipality_id in wanted:
        session.add(HubMunicipality(institution_id=institution_id, municipality_id=municipality_id))


def create_institution(*, session: Session, data: InstitutionCreate) -> Institution:
    check_external_id(session, data.external_id)
    require_municipality(session, data.municipality_id)
    institution = Institution(**data.model_dump(exclude={"staff_contacts", "designations", "hub_municipality_ids"}))
    session.add(institution)
    session.flush()
    replace_staff_contacts(session, institution.id, data.staff_contacts)
    replace_designations(session, institution.id, data.designations)
    replace_hub_coverage(session, institution.id, data.hub_municipality_ids)
    session.flush()
    return institution


def update_institution(*, session: Session, institution: Institution, data: InstitutionUpdate) -> Institution:
    if data.designations is not None or data.hub_municipality_ids is not None:
        # They define a hub's patient scope: only registry.designations changes them (403 here, for every role).
        raise Forbidden(
            "指定と拠点の担当市町村はこの操作では変更できません。PUT /api/v1/institutions/{id}/designations または "
            "/hub-municipalities を使ってください (use the dedicated routes)"
        )
    changes = data.model_dump(exclude_unset=True, exclude={"staff_contacts", "designations", "hub_municipality_ids"})
    if "external_id" in changes:
        check_external_id(session, changes["external_id"], own_id=institution.id)
    if changes.get("municipality_id") is not None:
        require_municipality(session, changes["municipality_id"])
    for field, value in changes.items():
        if field in {"name", "kind", "municipality_id", "enhanced", "open_24h"} and value is None:
            continue
        setattr(institution, field, value)
    institution.updated_at = utcnow()
    session.add(institution)
    if data.staff_contacts is not None:
        replace_staff_contacts(session, institution.id, data.staff_contacts)
    if "kind" in changes or "enhanced" in changes:
        # A new kind must still be allowed to hold what the institution already holds.
        held = session.exec(
            select(HomeCareRegion, Designation.kind)
            .join(Designation, Designation.region_id == HomeCareRegion.id)
            .where(Designation.institution_id == institution.id)
        ).all()
        check_designation_rules(session, institution, list(held))
    session.flush()
    return institution
