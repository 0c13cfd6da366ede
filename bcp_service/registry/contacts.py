"""One contact of a patient at a time: add, correct or remove it and leave the others as they are.

``PATCH /patients/{id}`` with ``contacts`` replaces the whole list; a phone correction made that
way loses the rows' history (``bad_since``) and, if the caller sent only the corrected contact,
the others. These functions touch one row and keep the calling order dense (1, 2, 3 …).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bcp_service.errors import Conflict, NotFound
from bcp_service.models import Patient, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.registry.schemas import PatientContactIn

MAX_CONTACTS = 10


def list_contacts(*, session: Session, patient: Patient) -> list[PatientContact]:
    return list(session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position, PatientContact.id)
    ).all())


def get_contact(*, session: Session, patient: Patient, contact_id: int) -> PatientContact:
    contact = session.exec(
        select(PatientContact).where(PatientContact.id == contact_id, PatientContact.patient_id == patient.id)
    ).first()
    if contact is None:
        raise NotFound("連絡先が見つかりません (contact not found)")
    return contact


def _touch(session: Session, patient: Patient) -> None:
    patient.updated_at = utcnow()
    session.add(patient)


def add_contact(*, session: Session, patient: Patient, data: PatientContactIn) -> PatientContact:
    existing = list_contacts(session=session, patient=patient)
    if len(existing) >= MAX_CONTACTS:
        raise Conflict(f"連絡先は{MAX_CONTACTS}件までです (at most {MAX_CONTACTS} contacts)", field="phone")
    contact = PatientContact(patient_id=patient.id, position=len(existing) + 1, **_values(data))
    session.add(contact)
    _touch(session, patient)
    session.flush()
    return contact


def update_contact(*, session: Session, patient: Patient, contact: PatientContact, data: PatientContactIn) -> PatientContact:
    values = _values(data)
    if values["phone"] != contact.phone:
        # A corrected number has not failed yet: the sender may try it again.
        contact.bad_since = None
        contact.bad_reason = None
    for field, value in values.items():
        setattr(contact, field, value)
    session.add(contact)
    _touch(session, patient)
    session.flush()
    return contact


def remove_contact(*, session: Session, patient: Patient, contact: PatientContact) -> None:
    session.delete(contact)
    session.flush()
    remaining = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id, col(PatientContact.id) != contact.id)
        .order_by(PatientContact.position, PatientContact.id)
    ).all()
    for position, row in enumerate(remaining, start=1):
        if row.position != position:
            row.position = position
            session.add(row)
    _touch(session, patient)
    session.flush()


def _values(data: PatientContactIn) -> dict:
    return {"kind": str(data.kind), "name": data.name or None, "relation": data.relation or None, "phone": data.phone,
            "preferred_channel": str(data.preferred_channel)}
