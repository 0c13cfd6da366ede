"""Administrative and planning areas: prefecture, 二次医療圏, 保健所圏域, 地区医師会, 市町村, 在宅医療圏."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field, timestamp_field


class Prefecture(SQLModel, table=True):
    __tablename__ = "prefecture"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=2, unique=True, description="JIS X 0401 two-digit code, e.g. 12")
    name: str = Field(max_length=20)
    # When advance notices may not text or call families (local "HH:MM"); none: settings.notice_quiet_hours.
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)


class SecondaryMedicalArea(SQLModel, table=True):
    __tablename__ = "secondary_medical_area"
    __table_args__ = (UniqueConstraint("prefecture_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    name: str = Field(max_length=50)


class PublicHealthCenterDistrict(SQLModel, table=True):
    __tablename__ = "public_health_center_district"
    __table_args__ = (UniqueConstraint("prefecture_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    secondary_medical_area_id: int | None = Field(default=None, foreign_key="secondary_medical_area.id")
    name: str = Field(max_length=50)


class LocalMedicalAssociation(SQLModel, table=True):
    __tablename__ = "local_medical_association"
    __table_args__ = (UniqueConstraint("prefecture_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    secondary_medical_area_id: int | None = Field(default=None, foreign_key="secondary_medical_area.id")
    public_health_center_district_id: int | None = Field(default=None, foreign_key="public_health_center_district.id")
    name: str = Field(max_length=50)


class Municipality(SQLModel, table=True):
    __tablename__ = "municipality"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=6, unique=True, description="6-digit local-government code with check digit")
    name: str = Field(max_length=50)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    secondary_medical_area_id: int | None = Field(default=None, foreign_key="secondary_medical_area.id")
    public_health_center_district_id: int | None = Field(default=None, foreign_key="public_health_center_district.id")
    local_medical_association_id: int | None = Field(default=None, foreign_key="local_medical_association.id")
    # Where the area memberships above came from: "official" or "demo_assigned" (plausible, not sourced).
    membership_source: str = Field(default="official", max_length=20)


class HomeCareRegion(SQLModel, table=True):
    __tablename__ = "home_care_region"
    __table_args__ = (UniqueConstraint("prefecture_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    name: str = Field(max_length=100)
    notes: str | None = Field(default=None, max_length=1000)


class HomeCareRegionMunicipality(SQLModel, table=True):
    __tablename__ = "home_care_region_municipality"

    region_id: int = Field(foreign_key="home_care_region.id", primary_key=True)
    municipality_id: int = Field(foreign_key="municipality.id", primary_key=True, index=True)


class RegionChange(SQLModel, table=True):
    """One redraw of a prefecture's home-care regions (move, create, rename, merge, split), kept forever:
    the history page lists them. A change whose ``effective_on`` (Asia/Tokyo date) has come is applied at
    once; a later one waits as ``scheduled`` until the scheduler applies it on that date
    (registry/region_changes.py)."""

    __tablename__ = "region_change"

    id: int | None = Field(default=None, primary_key=True)
    prefecture_id: int = Field(foreign_key="prefecture.id", index=True)
    kind: str = Field(max_length=10)  # move | create | rename | merge | split
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    summary: str = Field(max_length=500)  # the change in Japanese, as the officer asked for it
    effective_on: date
    status: str = Field(default="scheduled", max_length=10, index=True)  # scheduled | applied | failed | cancelled
    outcome: str | None = Field(default=None, max_length=1000)  # what applying did (hubs that followed), or why not
    created_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = created_at_field()
    applied_at: datetime | None = timestamp_field()
