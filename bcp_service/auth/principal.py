"""Who is calling, and which patients they may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_
from sqlmodel import col, select

from bcp_service.auth.roles import ROLE_LABELS, Role
from bcp_service.models import Designation, HomeCareRegionMunicipality, HubMunicipality, Municipality, Patient
from bcp_service.models.enums import DesignationKind


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    scope_id: int | None
    via: str = "bearer"  # "bearer" | "session"
    csrf_token: str | None = None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, "")

    @property
    def sees_identities(self) -> bool:
        return self.role not in (Role.aggregate, Role.system)


def hub_municipalities(hub_id: int):
    """Municipalities a hub covers directly or through the regions it is designated for."""
    direct = select(HubMunicipality.municipality_id).where(HubMunicipality.institution_id == hub_id)
    regions = select(Designation.region_id).where(
        Designation.institution_id == hub_id, Designation.kind == DesignationKind.hub
    )
    via_region = select(HomeCareRegionMunicipality.municipality_id).where(
        col(HomeCareRegionMunicipality.region_id).in_(regions)
    )
    return direct.union(via_region)


def prefecture_municipalities(prefecture_id: int):
    return select(Municipality.id).where(Municipality.prefecture_id == prefecture_id)


def patient_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """SQL conditions limiting patients to the caller's scope (empty list: no limit)."""
    sid = principal.scope_id
    if principal.role == Role.admin:
        return []
    if principal.role == Role.prefecture and sid is not None:
        return [col(Patient.municipality_id).in_(prefecture_municipalities(sid))]
    if principal.role == Role.hub and sid is not None:
        return [or_(Patient.hub_id == sid, col(Patient.municipality_id).in_(hub_municipalities(sid)))]
    if principal.role == Role.institution and sid is not None:
        return [
            or_(
                Patient.active_institution_id == sid,
                Patient.visiting_nurse_station_id == sid,
                Patient.backup_hospital_id == sid,
            )
        ]
    if principal.role == Role.nurse and sid is not None:
        return [or_(Patient.visiting_nurse_station_id == sid, *nurse_assignment_conditions(principal))]
    return [false()]


def nurse_assignment_conditions(principal: Principal) -> list[ColumnElement[bool]]:
    """Patients assigned to this nurse in an open round. Extended by the rounds package."""
    from bcp_service.auth import assignments

    return [provider(principal) for provider in assignments.PROVIDERS]


def municipality_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """Conditions on ``Municipality`` rows a principal may manage or count."""
    sid = principal.scope_id
    if principal.role in (Role.admin, Role.aggregate):
        return []
    if principal.role == Role.prefecture and sid is not None:
        return [Municipality.prefecture_id == sid]
    if principal.role == Role.hub and sid is not None:
        return [col(Municipality.id).in_(hub_municipalities(sid))]
    return [false()]
