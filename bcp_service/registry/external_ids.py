"""Patient external ids: another organisation's key, unique only among the patients a caller sees.

An id is stored with its owner, the organisation whose account wrote it (``owner_of``); the database
keeps it unique per owner (migration 0014). A caller is told "already exists" only for a patient it
can see. Every other holder is invisible, so it must not change the answer: a holder under the
caller's own owner that left the caller's scope (moved by another account) gives up its owner
(``release``), which makes room without touching the patient's data. Scoped callers run that
statement whether or not anything matches, so neither the answer nor the work done differs.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.errors import Conflict
from bcp_service.models import Patient

CONFLICT = "この外部IDは担当範囲の別の患者に使われています (external_id already exists)"


def owner_of(principal: Principal | None) -> str:
    """The organisation an account speaks for: its hub, institution or prefecture; "admin" for admins and the CLI."""
    if principal is None or principal.role == Role.admin or principal.scope_id is None:
        return "admin"
    return f"{principal.role.value}:{principal.scope_id}"


def check_external_id(
    session: Session,
    principal: Principal | None,
    external_id: str | None,
    own_id: int | None = None,
) -> None:
    """409 when another patient the caller sees has this id; otherwise make room under the caller's owner."""
    if external_id is None:
        return
    scope = patient_scope(principal) if principal is not None else []
    clash = session.exec(
        select(Patient.id).where(Patient.external_id == external_id, col(Patient.id) != (own_id or 0), *scope)
    ).first()
    if clash is not None:
        raise Conflict(CONFLICT, field="external_id")
    release(session, principal, [external_id], keep=own_id)


def release(
    session: Session, principal: Principal | None, external_ids: Collection[str], keep: int | None = None
) -> None:
    """Drop the caller's owner from these ids on patients the caller does not see (its callers have
    checked that it sees none holding them). Admins see every patient: nothing to release."""
    if owner_of(principal) == "admin" or not external_ids:
        return
    statement = update(Patient).where(
        Patient.external_id_owner == owner_of(principal),
        col(Patient.external_id).in_(list(external_ids)),
    )
    if keep is not None:
        statement = statement.where(Patient.id != keep)
    session.execute(statement.values(external_id_owner=None).execution_options(synchronize_session=False))
