"""Patients as CSV, in the importer's own columns so an exported file re-imports onto the same records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session

from bcp_service.imports.columns import (
    ADDRESS_FIELD,
    CONTACT_FIELD,
    CONTACT_KEY,
    EXPORT_MIN_CONTACTS,
    PATIENT_COLUMNS,
    Column,
)
from bcp_service.models import Institution, Municipality, Patient, PatientContact
from bcp_service.registry.patients import PatientFilters, contacts_for, filter_conditions
from bcp_service.registry.phones import national_format

BATCH = 2000


def format_cell(column: Column, value: Any, refs: dict[int, str], codes: dict[int, str]) -> str:
    if value is None:
        return ""
    if column.kind == "bool":
        return "はい" if value else "いいえ"
    if column.kind == "date" and isinstance(value, date):
        return value.isoformat()
    if column.kind == "number":
        text = repr(float(value))
        return text[:-2] if text.endswith(".0") else text
    if column.kind == "choice" and column.choice is not None:
        return column.choice.labels.get(value, str(value))
    if column.kind == "phone":
        return national_format(value) if str(value).startswith("+81") else str(value)
    if column.kind == "code":
        return codes.get(value, "")
    if column.kind == "ref":
        return refs.get(value, f"#{value}")
    return str(value)


def export_columns(session: Session) -> list[Column]:
    """The patient columns, with as many contact slots as the patient with most contacts needs."""
    per_patient = (
        select(func.count().label("n")).select_from(PatientContact).group_by(PatientContact.patient_id).subquery()
    )
    most = session.execute(select(func.max(per_patient.c.n))).scalar() or 0
    slots = max(EXPORT_MIN_CONTACTS, most)
    return [c for c in PATIENT_COLUMNS if not (m := CONTACT_KEY.match(c.key)) or int(m.group(1)) <= slots]


def export_rows(
    session: Session,
    columns: list[Column],
    filters: PatientFilters,
    scope: list[ColumnElement[bool]],
    exported: list[int],
) -> Iterator[list[str]]:
    """Rows in id order, read in batches by id; appends each exported patient id to ``exported`` (for the audit log)."""
    codes = dict(session.execute(select(Municipality.id, Municipality.code)).all())
    refs = {
        i: ext if ext is not None else f"#{i}"
        for i, ext in session.execute(select(Institution.id, Institution.external_id))
    }
    conditions = filter_conditions(filters) + list(scope)
    table = Patient.__table__
    last_id = 0
    while True:
        batch = [
            dict(row)
            for row in session.execute(
                select(table).where(table.c.id > last_id, *conditions).order_by(table.c.id).limit(BATCH)
            ).mappings()
        ]
        if not batch:
            return
        contacts = contacts_for(session=session, patient_ids=[p["id"] for p in batch])
        for patient in batch:
            exported.append(patient["id"])
            yield [format_cell(c, _value(c, patient, contacts.get(patient["id"], [])), refs, codes) for c in columns]
        last_id = batch[-1]["id"]


def _value(column: Column, patient: dict, contacts: list[PatientContact]) -> Any:
    if column.kind == "key":
        return patient["external_id"] if patient["external_id"] is not None else f"#{patient['id']}"
    if match := CONTACT_KEY.match(column.key):
        slot, part = int(match.group(1)), match.group(2)
        if slot > len(contacts):
            return None
        field = CONTACT_FIELD[part]
        if field.startswith(ADDRESS_FIELD):  # a channel's own address (e-mail)
            return contacts[slot - 1].addresses.get(field.removeprefix(ADDRESS_FIELD))
        return getattr(contacts[slot - 1], field)
    return patient.get(column.field)
