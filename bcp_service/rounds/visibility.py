"""Which rounds a caller may list and read, and what of a round it may see.

``admin`` sees every round. ``aggregate`` lists every round but never its target (ids) nor who started
it, and reads only suppressed counts. Scoped roles (prefecture, hub, institution, nurse) see a round
when it has a check for one of their patients or they (their role and scope) started it, and its
counts are counted over their own patients only. Pages call the same functions.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.errors import NotFound
from bcp_service.models import Patient, SafetyCheck, SafetyRound

UNSCOPED = (Role.admin, Role.aggregate)


def round_conditions(principal: Principal) -> list[ColumnElement[bool]]:
    if principal.role in UNSCOPED:
        return []
    has_my_patient = exists(
        select(SafetyCheck.id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.round_id == SafetyRound.id, *patient_scope(principal))
    )
    started_by_me = and_(
        SafetyRound.started_by_role == str(principal.role), SafetyRound.started_by_scope_id == principal.scope_id
    )
    return [or_(has_my_patient, started_by_me)]


def visible_round(*, session: Session, principal: Principal, round_id: int) -> SafetyRound:
    """The round, or 404 when it does not exist or the caller may not see it."""
    found = session.exec(select(SafetyRound).where(SafetyRound.id == round_id, *round_conditions(principal))).first()
    if found is None:
        raise NotFound("安否確認が見つかりません (round not found)")
    return found


def count_scope(principal: Principal) -> list[ColumnElement[bool]] | None:
    """Patient conditions to count a round over (None: the round's own counters, every patient)."""
    if principal.role in UNSCOPED:
        return None
    return patient_scope(principal)


def public_fields(principal: Principal, values: dict, min_cell: int) -> dict:
    """The aggregate role sees a round's what and when, never its target ids or its starter, and of its
    sizes only the number of patients when that is not a small cell (messages and no-contact counts
    would give small cells by subtraction)."""
    if principal.role == Role.aggregate:
        size = values.get("target_count") or 0
        return {
            **values,
            "target": {},
            "started_by_name": "",
            "closed_by_name": None,
            "target_count": None if 0 < size < min_cell else size,
            "message_count": None,
            "no_contact_count": None,
        }
    target = values.get("target") or {}
    if principal.role != Role.admin and target.get("patient_ids"):
        # A round started by a wider scope may list patients the reader may not see (issue 23): only
        # admin reads the list; others read how many were named.
        target = {
            **{k: v for k, v in target.items() if k != "patient_ids"},
            "patient_ids_count": len(target["patient_ids"]),
        }
        return {**values, "target": target}
    return values
