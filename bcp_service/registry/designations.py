"""Designations (active institution, hub) changed one at a time, by those the medical care plan
makes responsible: an admin, or the officer of the prefecture the region belongs to.

Hub and institution accounts see designations but never change them: a designation decides who
sees which patients (``patient_scope``), so a hub that could designate itself could widen its own
scope.
"""

from __future__ import annotations

from sqlmodel import Session, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.errors import FieldError, NotFound, ServiceError
from bcp_service.models import Designation, HomeCareRegion, Institution
from bcp_service.models.enums import DesignationKind

DESIGNATORS = (Role.admin, Role.prefecture)


class NotAllowed(ServiceError):
    status_code = 403
    error_type = "forbidden"


def can_designate(principal: Principal, region: HomeCareRegion) -> bool:
    return principal.role == Role.admin or (principal.role == Role.prefecture and region.prefecture_id == principal.scope_id)


def _region(session: Session, principal: Principal, region_id: int) -> HomeCareRegion:
    region = session.get(HomeCareRegion, region_id)
    if region is None:
        raise FieldError("在宅医療圏を選んでください (no such region)", field="region_id")
    if not can_designate(principal, region):
        raise NotAllowed("指定を変更できるのは管理者と、その圏域の都道府県の担当者だけです (designations: admin or own prefecture only)")
    return region


def designate(*, session: Session, principal: Principal, institution: Institution, region_id: int, kind: DesignationKind) -> Designation:
    _region(session, principal, region_id)
    existing = session.exec(select(Designation).where(
        Designation.institution_id == institution.id, Designation.region_id == region_id, Designation.kind == kind
    )).first()
    if existing is not None:
        return existing
    designation = Designation(institution_id=institution.id, region_id=region_id, kind=kind)
    session.add(designation)
    session.flush()
    return designation


def withdraw(*, session: Session, principal: Principal, institution: Institution, designation_id: int) -> None:
    designation = session.get(Designation, designation_id)
    if designation is None or designation.institution_id != institution.id:
        raise NotFound("指定が見つかりません (designation not found)")
    _region(session, principal, designation.region_id)
    session.delete(designation)
    session.flush()
