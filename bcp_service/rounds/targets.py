"""Who a round reaches.

The "who" selectors (prefecture, regions, municipalities, hubs, institutions, an explicit list)
are joined with OR: a round for "region A and municipality B" reaches both. Therapies and risk
tiers then narrow that set (any of the listed). Only active patients are ever targeted, and the
starter's own scope is ANDed on top, so a hub cannot reach outside its area whatever it asks for.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.errors import FieldError
from bcp_service.models import HomeCareRegionMunicipality, Municipality, Patient
from bcp_service.models.enums import PatientStatus, RiskTier, Therapy
from bcp_service.registry.patients import PatientFilters, filter_conditions, therapy_condition

MAX_LIST = 10_000
MunicipalityCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class RoundTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefecture_id: int | None = None
    region_ids: list[int] = Field(default_factory=list, max_length=1000)
    municipality_ids: list[int] = Field(default_factory=list, max_length=1000)
    # Codes as an earthquake bulletin or a person gives them; resolved to ids when the round starts.
    municipality_codes: list[MunicipalityCode] = Field(default_factory=list, max_length=1000)
    hub_ids: list[int] = Field(default_factory=list, max_length=1000)
    institution_ids: list[int] = Field(default_factory=list, max_length=1000)
    patient_ids: list[int] = Field(default_factory=list, max_length=MAX_LIST)
    therapies: list[Therapy] = Field(default_factory=list)
    risk_tiers: list[RiskTier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs_a_who(self) -> RoundTarget:
        if not self.has_who():
            raise ValueError(
                "対象地域・施設・患者のいずれかを指定してください "
                "(give a prefecture, regions, municipalities, hubs, institutions or patients)"
            )
        return self

    def has_who(self) -> bool:
        return bool(
            self.prefecture_id is not None
            or self.region_ids
            or self.municipality_ids
            or self.municipality_codes
            or self.hub_ids
            or self.institution_ids
            or self.patient_ids
        )


def resolve_codes(*, session: Session, target: RoundTarget) -> RoundTarget:
    """Replace municipality codes with ids, refusing codes the registry does not know."""
    if not target.municipality_codes:
        return target
    codes = sorted(set(target.municipality_codes))
    found = dict(
        session.exec(select(Municipality.code, Municipality.id).where(col(Municipality.code).in_(codes))).all()
    )
    missing = [code for code in codes if code not in found]
    if missing:
        raise FieldError(
            f"市町村コードが見つかりません (unknown municipality codes): {', '.join(missing)}",
            field="target.municipality_codes",
        )
    ids = sorted(set(target.municipality_ids) | set(found.values()))
    return target.model_copy(update={"municipality_ids": ids, "municipality_codes": []})


def target_conditions(target: RoundTarget) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Patient`` for the target (codes must be resolved first)."""
    who: list[ColumnElement[bool]] = []
    if target.prefecture_id is not None:
        who.extend(filter_conditions(PatientFilters(prefecture_id=target.prefecture_id)))
    if target.region_ids:
        in_regions = select(HomeCareRegionMunicipality.municipality_id).where(
            col(HomeCareRegionMunicipality.region_id).in_(target.region_ids)
        )
        who.append(col(Patient.municipality_id).in_(in_regions))
    if target.municipality_ids:
        who.append(col(Patient.municipality_id).in_(target.municipality_ids))
    if target.hub_ids:
        who.append(col(Patient.hub_id).in_(target.hub_ids))
    if target.institution_ids:
        ids = target.institution_ids
        who.append(
            or_(
                col(Patient.active_institution_id).in_(ids),
                col(Patient.visiting_nurse_station_id).in_(ids),
                col(Patient.backup_hospital_id).in_(ids),
                col(Patient.hub_id).in_(ids),
            )
        )
    if target.patient_ids:
        who.append(col(Patient.id).in_(target.patient_ids))
    conditions: list[ColumnElement[bool]] = [or_(*who), Patient.status == PatientStatus.active]
    if target.therapies:
        conditions.append(or_(*(therapy_condition(t) for t in target.therapies)))
    if target.risk_tiers:
        conditions.append(col(Patient.risk_tier).in_([t.value for t in target.risk_tiers]))
    return conditions


OUTSIDE_WALL = (
    "対象に担当外（または存在しない）の地域・施設・患者が含まれています"
    " (the target names an area, institution or patient outside your prefecture)"
)


def ensure_inside_wall(session: Session, principal: Principal, target: RoundTarget) -> None:
    """Every area, institution and patient a target names lies in the caller's prefecture (issue 23).
    One 422 whether the row is elsewhere or nowhere, so it tells nothing of other prefectures."""
    if not wall.allowed(
        session,
        principal,
        prefecture_ids=[target.prefecture_id],
        region_ids=target.region_ids,
        municipality_ids=target.municipality_ids,
        municipality_codes=target.municipality_codes,
        institution_ids=[*target.hub_ids, *target.institution_ids],
        patient_ids=target.patient_ids,
    ):
        raise FieldError(OUTSIDE_WALL, field="target")
