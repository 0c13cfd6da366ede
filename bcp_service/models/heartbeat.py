"""The one heartbeat table: every process's last sign of life (worker, scheduler, feeds, API)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field, timestamp_field


class ServiceHeartbeat(SQLModel, table=True):
    """One row per process instance; ``name`` is its component ("worker", "scheduler", "feeds", "api").

    ``info`` holds what the component reports (a worker's counts and paused lanes, a scheduler's
    runs, ``database_waiting_since`` while one of its loops waits for the database).
    """

    __tablename__ = "service_heartbeat"
    __table_args__ = (Index("ix_service_heartbeat_name_beat", "name", "beat_at"),)

    instance_id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=40)
    host: str = Field(max_length=100)
    process_id: int
    started_at: datetime = created_at_field()
    beat_at: datetime = created_at_field()
    stopped_at: datetime | None = timestamp_field()
    info: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
