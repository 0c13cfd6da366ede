"""Counts by area: the public tier of the emPOWER model. No identities, small cells suppressed."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Integer, case, func
from sqlmodel import Session, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.models import HomeCareRegionMunicipality, Municipality, Patient
from bcp_service.models.enums import PatientStatus


class AreaCount(BaseModel):
    municipality_id: int
    municipality_code: str
    municipality_name: str
    region_ids: list[int]
    ventilator: int | None
    oxygen: int | None
    critical: int | None
    total: int | None
    suppressed: bool


class PatientStats(BaseModel):
    min_cell: int
    areas: list[AreaCount]


def count_patients_by_area(
    *, session: Session, principal: Principal, prefecture_id: int | None, min_cell: int
) -> PatientStats:
    scope = [] if principal.role == Role.aggregate else patient_scope(principal)
    query = (
        select(
            Patient.municipality_id,
            func.count(),
            func.sum(case((Patient.uses_ventilator.is_(True), 1), else_=0).cast(Integer)),
            func.sum(case((Patient.uses_oxygen.is_(True), 1), else_=0).cast(Integer)),
            func.sum(case((Patient.risk_tier == "critical", 1), else_=0).cast(Integer)),
        )
        .where(Patient.status == PatientStatus.active, *scope)
        .group_by(Patient.municipality_id)
    )
    counts = {row[0]: row[1:] for row in session.exec(query)}
    municipalities = select(Municipality).order_by(Municipality.code)
    if prefecture_id is not None:
        municipalities = municipalities.where(Municipality.prefecture_id == prefecture_id)
    regions: dict[int, list[int]] = {}
    for link in session.exec(select(HomeCareRegionMunicipality)):
        regions.setdefault(link.municipality_id, []).append(link.region_id)
    suppress = principal.role == Role.aggregate
    areas = []
    for municipality in session.exec(municipalities):
        total, ventilator, oxygen, critical = counts.get(municipality.id, (0, 0, 0, 0))
        hidden = suppress and 0 < total < min_cell

        def cell(value: int) -> int | None:
            return None if suppress and 0 < value < min_cell else value

        areas.append(
            AreaCount(
                municipality_id=municipality.id,
                municipality_code=municipality.code,
                municipality_name=municipality.name,
                region_ids=sorted(regions.get(municipality.id, [])),
                total=None if hidden else total,
                ventilator=None if hidden else cell(ventilator),
                oxygen=None if hidden else cell(oxygen),
                critical=None if hidden else cell(critical),
                suppressed=hidden,
            )
        )
    return PatientStats(min_cell=min_cell if suppress else 0, areas=areas)
