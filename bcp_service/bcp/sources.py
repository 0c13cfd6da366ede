"""Registry queries behind a BCP draft: where an institution sits and who it works with.

Each function answers one question the draft asks of the registry; ``builder`` turns the rows
into the database-free context. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Patient,
    PatientContact,
)
from bcp_service.models.enums import RISK_TIER_ORDER, DesignationKind, InstitutionKind, PatientStatus

# Kinds a clinic or station coordinates with day to day (第4章 連携先), in the order listed.
PARTNER_KINDS = (
    InstitutionKind.home_care_support_clinic,
    InstitutionKind.home_care_support_hospital,
    InstitutionKind.clinic,
    InstitutionKind.clinic_with_beds,
    InstitutionKind.visiting_nurse_station,
    InstitutionKind.pharmacy,
    InstitutionKind.care_management_office,
)
MAX_PARTNERS = 12
MAX_SHARED_PARTNERS = 8
MAX_BACKED_UP_CLINICS = 20


def regions_of(session: Session, institution: Institution) -> tuple[list[HomeCareRegion], list[HomeCareRegion]]:
    """(all, home): regions containing the institution's municipality, followed by any it is
    designated for elsewhere; and the containing ones alone."""
    containing = set(
        session.exec(
            select(HomeCareRegionMunicipality.region_id).where(
                HomeCareRegionMunicipality.municipality_id == institution.municipality_id
            )
        ).all()
    )
    designated = select(Designation.region_id).where(Designation.institution_id == institution.id)
    rows = session.exec(
        select(HomeCareRegion).where(
            or_(col(HomeCareRegion.id).in_(sorted(containing)), col(HomeCareRegion.id).in_(designated))
        )
    ).all()
    ordered = sorted(rows, key=lambda r: (r.id not in containing, r.id))
    return ordered, [r for r in ordered if r.id in containing]


def designations_of(session: Session, institution_id: int) -> list[tuple[str, str]]:
    """(designation kind, region name) pairs held by the institution."""
    return list(
        session.exec(
            select(Designation.kind, HomeCareRegion.name)
            .join(HomeCareRegion, HomeCareRegion.id == Designation.region_id)
            .where(Designation.institution_id == institution_id)
            .order_by(Designation.kind, HomeCareRegion.id)
        ).all()
    )


def region_municipality_ids(session: Session, region_ids: Iterable[int]) -> set[int]:
    ids = list(region_ids)
    if not ids:
        return set()
    return set(
        session.exec(
            select(HomeCareRegionMunicipality.municipality_id).where(col(HomeCareRegionMunicipality.region_id).in_(ids))
        ).all()
    )


def designated_partner(
    session: Session, *, region_ids: list[int], kind: DesignationKind, institution: Institution
) -> Institution | None:
    """The region's designated institution of ``kind``: same municipality first, then the oldest."""
    if not region_ids:
        return None
    rows = session.exec(
        select(Institution, Designation.region_id)
        .join(Designation, Designation.institution_id == Institution.id)
        .where(col(Designation.region_id).in_(region_ids), Designation.kind == kind, Institution.id != institution.id)
    ).all()
    rank = {region_id: n for n, region_id in enumerate(region_ids)}
    best = min(
        rows,
        key=lambda row: (rank[row[1]], row[0].municipality_id != institution.municipality_id, row[0].id),
        default=None,
    )
    return best[0] if best else None


def hub_for(session: Session, *, institution: Institution, region_ids: list[int]) -> Institution | None:
    """The hub covering the institution's municipality directly, else the region's designated hub."""
    direct = session.exec(
        select(Institution)
        .join(HubMunicipality, HubMunicipality.institution_id == Institution.id)
        .where(HubMunicipality.municipality_id == institution.municipality_id, Institution.id != institution.id)
        .order_by(Institution.id)
    ).first()
    if direct is not None:
        return direct
    return designated_partner(session, region_ids=region_ids, kind=DesignationKind.hub, institution=institution)


def _by_priority(patients: Iterable[Patient]) -> list[Patient]:
    return sorted(patients, key=lambda p: (RISK_TIER_ORDER.get(p.risk_tier, 9), p.id))


def linked_patients(session: Session, institution_id: int) -> list[Patient]:
    """Patients at home whose doctor, nursing station or backup hospital this institution is."""
    rows = session.exec(
        select(Patient).where(
            Patient.status == PatientStatus.active,
            or_(
                Patient.active_institution_id == institution_id,
                Patient.visiting_nurse_station_id == institution_id,
                Patient.backup_hospital_id == institution_id,
            ),
        )
    ).all()
    return _by_priority(rows)


def area_ventilator_patients(session: Session, *, municipality_ids: set[int], exclude_ids: set[int]) -> list[Patient]:
    if not municipality_ids:
        return []
    rows = session.exec(
        select(Patient).where(
            Patient.status == PatientStatus.active,
            col(Patient.uses_ventilator).is_(True),
            col(Patient.municipality_id).in_(sorted(municipality_ids)),
        )
    ).all()
    return _by_priority(p for p in rows if p.id not in exclude_ids)


def institutions_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Institution]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {i.id: i for i in session.exec(select(Institution).where(col(Institution.id).in_(sorted(wanted)))).all()}


def municipality_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(
        session.exec(select(Municipality.id, Municipality.name).where(col(Municipality.id).in_(sorted(wanted)))).all()
    )


def public_body(session: Session, *, kind: InstitutionKind, municipality: Municipality) -> Institution | None:
    """A public body in the same municipality, else in the same public-health-centre district."""
    same = session.exec(
        select(Institution)
        .where(Institution.kind == kind, Institution.municipality_id == municipality.id)
        .order_by(Institution.id)
    ).first()
    if same is not None or municipality.public_health_center_district_id is None:
        return same
    district = select(Municipality.id).where(
        Municipality.public_health_center_district_id == municipality.public_health_center_district_id
    )
    return session.exec(
        select(Institution)
        .where(Institution.kind == kind, col(Institution.municipality_id).in_(district))
        .order_by(Institution.id)
    ).first()


def partner_institutions(
    session: Session, *, institution: Institution, patients: list[Patient], exclude_ids: set[int]
) -> list[Institution]:
    """Institutions sharing patients with this one first, then one of each partner kind nearby
    (so a pharmacy is not crowded out by a dozen nursing stations), then the rest nearby."""
    shared: dict[int, int] = {}
    for p in patients:
        for other in (p.active_institution_id, p.visiting_nurse_station_id):
            if other is not None and other != institution.id:
                shared[other] = shared.get(other, 0) + 1
    known = institutions_by_id(session, shared)
    ranked = sorted(
        (i for i in known.values() if i.kind in PARTNER_KINDS and i.id not in exclude_ids),
        key=lambda i: (-shared[i.id], i.id),
    )[:MAX_SHARED_PARTNERS]
    taken = {i.id for i in ranked} | exclude_ids | {institution.id}
    nearby = session.exec(
        select(Institution)
        .where(
            Institution.municipality_id == institution.municipality_id,
            col(Institution.kind).in_(PARTNER_KINDS),
            col(Institution.id).not_in(sorted(taken)),
        )
        .order_by(Institution.id)
    ).all()
    seen_kinds = {i.kind for i in ranked}
    first_of_kind = {}
    for row in nearby:
        if row.kind not in seen_kinds:
            first_of_kind.setdefault(row.kind, row)
    kind_rank = {kind: n for n, kind in enumerate(PARTNER_KINDS)}
    ranked.extend(sorted(first_of_kind.values(), key=lambda i: kind_rank[i.kind]))
    chosen = {i.id for i in ranked}
    ranked.extend(sorted((i for i in nearby if i.id not in chosen), key=lambda i: (kind_rank[i.kind], i.id)))
    return ranked[:MAX_PARTNERS]


def equipment_suppliers(
    session: Session, *, names: Iterable[str], municipality_ids: set[int]
) -> dict[str, Institution]:
    """Supplier institutions named on patients (any area) or located in the area, by name."""
    conditions = [col(Institution.name).in_(sorted(set(names)))]
    if municipality_ids:
        conditions.append(col(Institution.municipality_id).in_(sorted(municipality_ids)))
    rows = session.exec(
        select(Institution)
        .where(Institution.kind == InstitutionKind.equipment_supplier, or_(*conditions))
        .order_by(Institution.id)
    ).all()
    return {row.name: row for row in rows}


def single_doctor_clinics(
    session: Session, *, municipality_ids: set[int], exclude_id: int
) -> list[tuple[Institution, int]]:
    """Plain clinics in the area, the candidates an active institution backs up, with their
    device-dependent patient counts."""
    if not municipality_ids:
        return []
    clinics = session.exec(
        select(Institution)
        .where(
            Institution.kind == InstitutionKind.clinic,
            col(Institution.municipality_id).in_(sorted(municipality_ids)),
            Institution.id != exclude_id,
        )
        .order_by(Institution.id)
        .limit(MAX_BACKED_UP_CLINICS)
    ).all()
    if not clinics:
        return []
    counts = dict(
        session.exec(
            select(Patient.active_institution_id, func.count())
            .where(
                col(Patient.active_institution_id).in_([c.id for c in clinics]),
                Patient.status == PatientStatus.active,
            )
            .group_by(Patient.active_institution_id)
        ).all()
    )
    return [(c, counts.get(c.id, 0)) for c in clinics]


def patient_contacts(session: Session, patient_ids: Iterable[int]) -> dict[int, list[PatientContact]]:
    """Each patient's numbers in calling order (the registry's ``position``: own phone, family, carers)."""
    ids = sorted(set(patient_ids))
    found: dict[int, list[PatientContact]] = {i: [] for i in ids}
    for start in range(0, len(ids), 900):  # under SQLite's bound-parameter limit
        for row in session.exec(
            select(PatientContact)
            .where(col(PatientContact.patient_id).in_(ids[start : start + 900]))
            .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id)
        ).all():
            found[row.patient_id].append(row)
    return found
