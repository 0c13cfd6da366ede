"""Patient registry service: create, read, update, list. Never deletes: status records the end."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import ARRAY, ColumnElement, Text, and_, cast, delete, func, literal_column, or_
from sqlalchemy.dialects.postgresql import array
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import ContactAddress, HomeCareRegionMunicipality, Municipality, Patient, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.models.enums import PatientStatus, RiskTier, Therapy
from bcp_service.registry.contacts import save_addresses
from bcp_service.registry.external_ids import check_external_id, owner_of
from bcp_service.registry.hub_follow import follow_patient
from bcp_service.registry.patient_links import INSTITUTION_FIELDS, PatientLinks
from bcp_service.registry.references import (
    HOSPITAL_KINDS,
    NURSE_STATION_KINDS,
    require_institution,
    require_municipality,
)
from bcp_service.registry.risk import RiskInputs, derive_risk_tier
from bcp_service.registry.schemas import PatientContactIn, PatientCreate, PatientUpdate
from bcp_service.search_text import normalise_name

CONTACT_FIELDS = ("kind", "name", "relation", "phone", "preferred_channel")


@dataclass
class PatientFilters:
    prefecture_id: int | None = None
    region_id: int | None = None
    municipality_id: int | None = None
    hub_id: int | None = None
    institution_id: int | None = None
    therapy: Therapy | None = None
    risk_tier: RiskTier | None = None
    status: str | None = None
    q: str | None = None


def name_search_condition(q: str, dialect: str) -> ColumnElement[bool]:
    """Name or kana contains ``q``, both sides in search form (width, kana, spaces, variant kanji)."""
    key = normalise_name(q)
    matches = col(Patient.name_search).like(f"%{escape_like(key)}%", escape="\\")
    grams = query_bigrams(key)
    if dialect != "postgresql" or not grams:
        return matches
    # The GIN index on the generated bigram column narrows the rows; LIKE keeps the match exact.
    return and_(literal_column("patient.name_bigrams").op("@>")(cast(array(grams), ARRAY(Text))), matches)


def query_bigrams(key: str) -> list[str]:
    return sorted({key[i : i + 2] for i in range(len(key) - 1)})


def filter_conditions(filters: PatientFilters, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    """SQL conditions for the filters; subqueries rather than joins keep counts cheap."""
    conditions: list[ColumnElement[bool]] = []
    if filters.prefecture_id is not None:
        in_prefecture = select(Municipality.id).where(Municipality.prefecture_id == filters.prefecture_id)
        conditions.append(col(Patient.municipality_id).in_(in_prefecture))
    if filters.region_id is not None:
        in_region = select(HomeCareRegionMunicipality.municipality_id).where(
            HomeCareRegionMunicipality.region_id == filters.region_id
        )
        conditions.append(col(Patient.municipality_id).in_(in_region))
    if filters.municipality_id is not None:
        conditions.append(Patient.municipality_id == filters.municipality_id)
    if filters.hub_id is not None:
        conditions.append(Patient.hub_id == filters.hub_id)
    if filters.institution_id is not None:
        iid = filters.institution_id
        conditions.append(
            or_(
                Patient.active_institution_id == iid,
                Patient.visiting_nurse_station_id == iid,
                Patient.backup_hospital_id == iid,
                Patient.hub_id == iid,
            )
        )
    if filters.therapy is not None:
        conditions.append(therapy_condition(filters.therapy))
    if filters.risk_tier is not None:
        conditions.append(Patient.risk_tier == filters.risk_tier)
    if filters.status is not None:
        conditions.append(Patient.status == filters.status)
    if filters.q and normalise_name(filters.q):
        # The office's own patient number (外部ID, as written on their spreadsheet) finds the patient too.
        external_id = unicodedata.normalize("NFKC", filters.q).strip()
        conditions.append(or_(name_search_condition(filters.q, dialect), col(Patient.external_id) == external_id))
    return conditions


def therapy_condition(therapy: Therapy) -> ColumnElement[bool]:
    return {
        Therapy.ventilator: col(Patient.uses_ventilator).is_(True),
        Therapy.oxygen: col(Patient.uses_oxygen).is_(True),
        Therapy.suction: col(Patient.uses_suction).is_(True),
        Therapy.child: col(Patient.medically_dependent_child).is_(True),
    }[therapy]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_patients(
    *,
    session: Session,
    filters: PatientFilters,
    scope: list[ColumnElement[bool]] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Patient], int]:
    conditions = filter_conditions(filters, session.get_bind().dialect.name) + list(scope or [])
    total = session.exec(select(func.count()).select_from(Patient).where(*conditions)).one()
    rows = session.exec(select(Patient).where(*conditions).order_by(Patient.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_patient(*, session: Session, patient_id: int, scope: list[ColumnElement[bool]] | None = None) -> Patient:
    statement = select(Patient).where(Patient.id == patient_id, *(scope or []))
    patient = session.exec(statement).first()
    if patient is None:
        raise NotFound("患者が見つかりません (patient not found)")
    return patient


def contacts_for(*, session: Session, patient_ids: list[int]) -> dict[int, list]:
    """Contacts of many patients in one query, as plain rows with attribute access (ORM objects are slow)."""
    grouped: dict[int, list] = defaultdict(list)
    if not patient_ids:
        return grouped
    table = PatientContact.__table__
    rows = session.execute(
        table.select().where(table.c.patient_id.in_(patient_ids)).order_by(table.c.patient_id, table.c.position)
    )
    addresses: dict[int, dict[str, str]] = defaultdict(dict)
    refused: dict[int, dict] = defaultdict(dict)
    for contact_id, kind, address, refused_since in session.execute(
        select(ContactAddress.contact_id, ContactAddress.kind, ContactAddress.address, ContactAddress.refused_since)
        .join(PatientContact, col(PatientContact.id) == ContactAddress.contact_id)
        .where(col(PatientContact.patient_id).in_(patient_ids))
    ):
        if address:
            addresses[contact_id][kind] = address
        if refused_since is not None:
            refused[contact_id][kind] = refused_since
    for contact in rows:
        grouped[contact.patient_id].append(
            SimpleNamespace(
                **contact._mapping, addresses=addresses.get(contact.id, {}), refused=refused.get(contact.id, {})
            )
        )
    return grouped


def risk_inputs(patient: Patient) -> RiskInputs:
    return RiskInputs(**{field: getattr(patient, field) for field in RiskInputs.__dataclass_fields__})


def check_links(
    session: Session, principal: Principal | None, patient: Patient, changed: set[str] | None = None
) -> None:
    """The wall, then the rows exist and are of the right kind, then the hub and active-institution
    rules (``registry.patient_links``). ``principal`` None: the command line (no wall)."""
    home = wall.home_prefecture(session, principal) if principal is not None else None
    links = PatientLinks(session, home, [getattr(patient, f) for f in INSTITUTION_FIELDS])
    for field, message in links.wall_problems(patient.model_dump(), changed):
        raise FieldError(message, field=field)
    check_references(session, patient)
    for field, message in links.rule_problems(patient.model_dump(), changed):
        raise FieldError(message, field=field)


def check_references(session: Session, patient: Patient) -> None:
    require_municipality(session, patient.municipality_id)
    require_institution(session, patient.active_institution_id, "active_institution_id")
    require_institution(session, patient.visiting_nurse_station_id, "visiting_nurse_station_id", NURSE_STATION_KINDS)
    require_institution(session, patient.hub_id, "hub_id")
    require_institution(session, patient.backup_hospital_id, "backup_hospital_id", HOSPITAL_KINDS)


def replace_contacts(session: Session, patient_id: int, contacts: list[PatientContactIn]) -> None:
    existing = session.exec(select(PatientContact).where(PatientContact.patient_id == patient_id)).all()
    if existing:
        session.execute(delete(ContactAddress).where(col(ContactAddress.contact_id).in_([c.id for c in existing])))
    for contact in existing:
        session.delete(contact)
    session.flush()
    for position, data in enumerate(contacts, start=1):
        contact = PatientContact(
            patient_id=patient_id, position=position, **data.model_dump(include=set(CONTACT_FIELDS))
        )
        session.add(contact)
        if data.addresses:
            session.flush()
            save_addresses(session, contact, data.addresses)


def create_patient(*, session: Session, principal: Principal | None, data: PatientCreate) -> Patient:
    """``principal`` None: the command line, which sees every patient."""
    check_external_id(session, principal, data.external_id)
    patient = Patient(**data.model_dump(exclude={"contacts", "hub_pinned"}), hub_pinned=bool(data.hub_pinned))
    patient.external_id_owner = owner_of(principal) if patient.external_id is not None else None
    if patient.uses_ventilator is False:
        patient.ventilator_mode = None
    if patient.hub_id is None:
        follow_patient(session, patient)  # no hub named: the municipality's (issue 27.2)
    check_links(session, principal, patient)
    patient.risk_tier = derive_risk_tier(risk_inputs(patient))
    session.add(patient)
    session.flush()
    replace_contacts(session, patient.id, data.contacts)
    session.flush()
    return patient


def update_patient(*, session: Session, principal: Principal | None, patient: Patient, data: PatientUpdate) -> Patient:
    changes = data.model_dump(exclude_unset=True, exclude={"contacts", "status_reason"})
    if changes.get("status") is not None and changes["status"] != patient.status:
        patient.status_changed_at = utcnow()
        patient.status_reason = data.status_reason
    if "external_id" in changes and changes["external_id"] != patient.external_id:
        check_external_id(session, principal, changes["external_id"], own_id=patient.id)
        patient.external_id_owner = owner_of(principal) if changes["external_id"] is not None else None
    moved = set()  # the links that really change: only those are judged by the hub and institution rules
    for field, value in changes.items():
        if field in {"name", "sex", "municipality_id", "status", "hub_pinned"} and value is None:
            continue
        if getattr(patient, field) != value:
            moved.add(field)
        setattr(patient, field, value)
    # The hub follows the municipality unless pinned by hand or named in this very update (issue 27.2).
    named_hub = changes.get("hub_id") is not None
    if not patient.hub_pinned and not named_hub and (moved & {"municipality_id", "hub_pinned"} or "hub_id" in changes):
        old_hub = patient.hub_id
        follow_patient(session, patient)
        if patient.hub_id != old_hub:
            moved.add("hub_id")
    check_links(session, principal, patient, changed=moved)
    patient.risk_tier = derive_risk_tier(risk_inputs(patient))
    patient.updated_at = utcnow()
    session.add(patient)
    if data.contacts is not None:
        replace_contacts(session, patient.id, data.contacts)
    session.flush()
    return patient


def change_status(
    *, session: Session, principal: Principal | None, patient: Patient, status: PatientStatus, reason: str
) -> Patient:
    """Moved, admitted, deceased (or active again), always with the reason a person gave."""
    reason = (reason or "").strip()
    if not reason:
        raise FieldError("状態を変える理由を入力してください (a reason is required)", field="status_reason")
    if len(reason) > 300:
        raise FieldError("理由は300文字以内で入力してください (reason too long)", field="status_reason")
    if status == patient.status:
        raise FieldError("現在と同じ状態です (status unchanged)", field="status")
    return update_patient(
        session=session, principal=principal, patient=patient, data=PatientUpdate(status=status, status_reason=reason)
    )
