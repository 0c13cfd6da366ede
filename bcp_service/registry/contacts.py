"""One contact of a patient at a time: add, correct or remove it and leave the others as they are.

``PATCH /patients/{id}`` with ``contacts`` replaces the whole list; a phone correction made that
way loses the rows' history (``bad_since``) and, if the caller sent only the corrected contact,
the others. These functions touch one row and keep the calling order dense (1, 2, 3 …).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bcp_service.channels import own_address_channels
from bcp_service.errors import Conflict, NotFound
from bcp_service.models import ContactAddress, Patient, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.registry.schemas import PatientContactIn

MAX_CONTACTS = 10


def list_contacts(*, session: Session, patient: Patient) -> list[PatientContact]:
    return list(
        session.exec(
            select(PatientContact)
            .where(PatientContact.patient_id == patient.id)
            .order_by(PatientContact.position, PatientContact.id)
        ).all()
    )


def addresses_of(*, session: Session, contacts: list[PatientContact]) -> dict[int, dict[str, str]]:
    """contact id → {channel: address} of the channels with addresses of their own (e-mail)."""
    found: dict[int, dict[str, str]] = {contact.id: {} for contact in contacts}
    if contacts:
        for contact_id, kind, address in session.exec(
            select(ContactAddress.contact_id, ContactAddress.kind, ContactAddress.address).where(
                col(ContactAddress.contact_id).in_(list(found)), col(ContactAddress.address).is_not(None)
            )
        ):
            found[contact_id][kind] = address
    return found


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
    save_addresses(session, contact, data.addresses)
    return contact


def update_contact(
    *, session: Session, patient: Patient, contact: PatientContact, data: PatientContactIn
) -> PatientContact:
    values = _values(data)
    new_phone = values["phone"] != contact.phone
    if new_phone:
        # A corrected number has not failed yet: the sender may try it again.
        contact.bad_since = None
        contact.bad_reason = None
    for field, value in values.items():
        setattr(contact, field, value)
    session.add(contact)
    _touch(session, patient)
    session.flush()
    save_addresses(session, contact, data.addresses, new_phone=new_phone)
    return contact


def save_addresses(
    session: Session, contact: PatientContact, addresses: dict[str, str], *, new_phone: bool = False
) -> None:
    """Keep the contact's ``contact_address`` rows in step with what was entered: one row per channel with an
    address of its own (e-mail; a changed address has not refused yet), none for one left blank; a new phone
    number clears the phone channels' refusals (the old number's)."""
    own = own_address_channels()
    rows = {
        row.kind: row for row in session.exec(select(ContactAddress).where(ContactAddress.contact_id == contact.id))
    }
    for kind, row in rows.items():
        if (kind in own and kind not in addresses) or (new_phone and kind not in own):
            session.delete(row)
    for kind, address in addresses.items():
        row = rows.get(kind)
        if row is None:
            session.add(ContactAddress(contact_id=contact.id, kind=kind, address=address))
        elif row.address != address:
            row.address, row.refused_since = address, None
            session.add(row)
    session.flush()


def remove_contact(*, session: Session, patient: Patient, contact: PatientContact) -> None:
    session.execute(delete(ContactAddress).where(col(ContactAddress.contact_id) == contact.id))
    session.delete(contact)
    session.flush()
    remaining = session.exec(
        select(PatientContact)
        .where(PatientContact.patient_id == patient.id, col(PatientContact.id) != contact.id)
        .order_by(PatientContact.position, PatientContact.id)
    ).all()
    for position, row in enumerate(remaining, start=1):
        if row.position != position:
            row.position = position
            session.add(row)
    _touch(session, patient)
    session.flush()


def _values(data: PatientContactIn) -> dict:
    return {
        "kind": str(data.kind),
        "name": data.name or None,
        "relation": data.relation or None,
        "phone": data.phone,
        "preferred_channel": str(data.preferred_channel),
    }
