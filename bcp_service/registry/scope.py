"""Scope checks for registry writes (reads are scoped in the queries)."""

from __future__ import annotations

from sqlmodel import Session, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal, municipality_scope, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import Institution, Municipality, Patient

OUTSIDE_MUNICIPALITY = "担当範囲外の市町村です (municipality outside your scope)"


def ensure_patient_in_scope(
    session: Session, principal: Principal, patient: Patient, *, moved_from: int | None = None
) -> None:
    """After a write: the patient must still be one the caller is responsible for. A hub hands a patient
    who moves over to the new municipality's hub (issue 27.2): ``moved_from``, the municipality before an
    update, lets the patient leave the hub's sight when it changed (the wall was checked by the write)."""
    if moved_from is not None and principal.role == Role.hub and patient.municipality_id != moved_from:
        return
    visible = session.exec(select(Patient.id).where(Patient.id == patient.id, *patient_scope(principal))).first()
    if visible is None:
        raise FieldError(
            "担当範囲外の患者になります。市町村や担当施設を確認してください (outside your scope)",
            field="municipality_id" if principal.role in (Role.prefecture, Role.hub) else "active_institution_id",
        )


def municipality_in_scope(session: Session, principal: Principal, municipality_id: int) -> bool:
    return (
        session.exec(
            select(Municipality.id).where(Municipality.id == municipality_id, *municipality_scope(principal))
        ).first()
        is not None
    )


def ensure_institution_editable(session: Session, principal: Principal, institution: Institution) -> None:
    """Before an update: the institution must be the caller's own or inside the caller's area."""
    if principal.role == Role.admin:
        return
    if principal.role == Role.institution:
        if institution.id != principal.scope_id:
            raise NotFound("施設が見つかりません (institution not found)")
        return
    if not municipality_in_scope(session, principal, institution.municipality_id):
        raise NotFound("施設が見つかりません (institution not found)")


def ensure_institution_placed_in_scope(
    session: Session, principal: Principal, institution: Institution, home: int | None = None
) -> None:
    """After a create or update: prefecture and hub staff may not place an institution outside their area.
    ``home``: the caller's prefecture read before the update (an institution moving itself would
    otherwise carry its prefecture along); read now when not given."""
    if principal.role == Role.institution and institution.id != principal.scope_id:
        raise FieldError(
            "施設アカウントは新しい施設を登録できません (institutions cannot register others)", field="name"
        )
    if principal.role in (Role.prefecture, Role.hub) and not municipality_in_scope(
        session, principal, institution.municipality_id
    ):
        raise FieldError(OUTSIDE_MUNICIPALITY, field="municipality_id")
    # The wall (issue 23): no one but admin places an institution (its own included) in another prefecture.
    home = home if home is not None else wall.home_prefecture(session, principal)
    if home is not None and not wall.inside(session, home, municipality_ids=[institution.municipality_id]):
        raise FieldError(OUTSIDE_MUNICIPALITY, field="municipality_id")


def ensure_prefecture_writable(principal: Principal, prefecture_id: int) -> None:
    if principal.role == Role.prefecture and principal.scope_id != prefecture_id:
        raise FieldError("担当外の都道府県です (prefecture outside your scope)", field="prefecture_id")
