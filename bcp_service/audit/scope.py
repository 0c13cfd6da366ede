"""Which audit events and which of their patient ids a reader may see.

``admin`` sees everything. A ``prefecture`` officer sees the events that touched at least one patient
of its prefecture, and the events of accounts belonging to its prefecture (logins, audit reads); in
either case only the patient ids inside its prefecture are shown, and a patient filter outside it
matches nothing. Every other role reads no audit log.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_
from sqlmodel import col, select

from bcp_service.auth.principal import Principal, patient_scope, prefecture_municipalities
from bcp_service.auth.roles import Role
from bcp_service.models import AuditEvent, AuditEventPatient, Institution, Patient, User


def visible_patients(principal: Principal):
    """A subquery of the patient ids the reader may see in audit events (None: all)."""
    if principal.role == Role.admin:
        return None
    return select(Patient.id).where(*patient_scope(principal))


def accounts_of_prefecture(prefecture_id: int):
    in_prefecture = prefecture_municipalities(prefecture_id)
    institutions = select(Institution.id).where(col(Institution.municipality_id).in_(in_prefecture))
    return select(User.id).where(
        or_(
            (User.role == Role.prefecture) & (User.scope_id == prefecture_id),
            col(User.role).in_([Role.hub, Role.institution, Role.nurse]) & col(User.scope_id).in_(institutions),
        )
    )


def event_conditions(principal: Principal) -> list[ColumnElement[bool]]:
    if principal.role == Role.admin:
        return []
    if principal.role != Role.prefecture or principal.scope_id is None:
        return [false()]
    # Correlated: each event newest first is checked by its own patient links (primary-key lookups) against
    # the prefecture's patients (one hash of thousands), instead of first collecting every event id that
    # touched them (a hash of up to millions: 2.4 s on 200,000 events; load_tests/RESULTS.md, "Audit trail").
    touched_here = exists().where(
        AuditEventPatient.event_id == AuditEvent.id, col(AuditEventPatient.patient_id).in_(visible_patients(principal))
    )
    return [or_(touched_here, col(AuditEvent.user_id).in_(accounts_of_prefecture(principal.scope_id)))]


def patient_filter_condition(principal: Principal, patient_id: int) -> list[ColumnElement[bool]]:
    """A patient filter outside the reader's scope matches nothing (no oracle for who read whom)."""
    visible = visible_patients(principal)
    if visible is None:
        return []
    return [
        col(AuditEvent.id).in_(
            select(AuditEventPatient.event_id).where(
                AuditEventPatient.patient_id == patient_id, col(AuditEventPatient.patient_id).in_(visible)
            )
        )
    ]
