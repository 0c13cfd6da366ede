"""The audit log of personal-data reads and changes. Append-only: the application never updates or deletes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    user_id: int | None = Field(default=None, index=True)
    username: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=60, index=True)  # e.g. patient.read, patient.list, patient.update
    resource: str | None = Field(default=None, max_length=200)  # route template, never the query string
    patient_count: int = Field(default=0)
    address: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500)


class AuditEventPatient(SQLModel, table=True):
    """Which patients an audit event touched, so "who looked at this patient?" is one indexed query."""

    __tablename__ = "audit_event_patient"

    event_id: int = Field(foreign_key="audit_event.id", primary_key=True)
    patient_id: int = Field(primary_key=True, index=True)
