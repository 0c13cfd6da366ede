"""Institutions, their staff contacts, designations and hub coverage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field, timestamp_field


class Institution(SQLModel, table=True):
    __tablename__ = "institution"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=40, index=True)
    enhanced: bool = Field(default=False, description="機能強化型")
    open_24h: bool = Field(default=False)
    address: str | None = Field(default=None, max_length=300)
    municipality_id: int = Field(foreign_key="municipality.id", index=True)
    phone: str | None = Field(default=None, max_length=20, description="E.164")
    # issue 25.4: paged (SMS, or a call for a landline) when a critical patient it serves becomes unreachable.
    oncall_phone: str | None = Field(default=None, max_length=20, description="E.164, Japanese")
    created_at: datetime = created_at_field()
    updated_at: datetime | None = timestamp_field()


class InstitutionContact(SQLModel, table=True):
    """Staff contact tree of an institution, in calling order."""

    __tablename__ = "institution_contact"

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    position: int = Field(default=1)
    name: str = Field(max_length=100)
    role: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=200)


class Designation(SQLModel, table=True):
    """An institution designated as active institution or hub for a home-care region."""

    __tablename__ = "designation"
    __table_args__ = (UniqueConstraint("institution_id", "region_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    region_id: int = Field(foreign_key="home_care_region.id", index=True)
    kind: str = Field(max_length=30)


class HubMunicipality(SQLModel, table=True):
    """Which municipalities a hub covers (many-to-many)."""

    __tablename__ = "hub_municipality"

    institution_id: int = Field(foreign_key="institution.id", primary_key=True)
    municipality_id: int = Field(foreign_key="municipality.id", primary_key=True, index=True)


class DesignationRule(SQLModel, table=True):
    """Which institution kinds may hold a designation, and which count toward a region's requirement.

    Rows with ``prefecture_code`` NULL are the national defaults; a prefecture with rows of its own
    for a designation uses only those (Chiba: registry.designation_rules.CHIBA_RULES). Validated on
    every designation write; the coverage-gap report counts only holders whose row ``counts``.
    """

    __tablename__ = "designation_rule"
    __table_args__ = (
        UniqueConstraint(
            "prefecture_code", "designation", "institution_kind", "enhanced_only", name="uq_designation_rule"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    prefecture_code: str | None = Field(default=None, max_length=2, index=True)
    designation: str = Field(max_length=30)
    institution_kind: str = Field(max_length=40)
    enhanced_only: bool = Field(default=False)  # only the 機能強化型 of this kind
    counts: bool = Field(default=True)  # counts toward the region's requirement (else: may hold, not enough)
    source: str | None = Field(default=None, max_length=200)
