"""Power outages as an input (``/api/v1/outages``): one row per outage area a source reported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class PowerOutage(SQLModel, table=True):
    """An outage in a municipality (or a district of it), open until ``restored_at``.

    ``source`` + ``external_id`` is the source's own key, so a utility that re-posts its whole list
    every few minutes updates the same rows.
    """

    __tablename__ = "power_outage"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_power_outage_source_id"),
        Index(
            "ix_power_outage_open",
            "municipality_id",
            postgresql_where=text("restored_at IS NULL"),
            sqlite_where=text("restored_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    external_id: str = Field(max_length=100)
    municipality_id: int = Field(foreign_key="municipality.id")
    district: str | None = Field(default=None, max_length=100)
    started_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    expected_restoration_at: datetime | None = timestamp_field()
    restored_at: datetime | None = timestamp_field()
    households: int | None = None
    planned: bool = Field(default=False)  # a planned shutoff announced ahead (advance notice)
    received_at: datetime = created_at_field()
    received_by_name: str = Field(max_length=100)
    updated_at: datetime = created_at_field()
