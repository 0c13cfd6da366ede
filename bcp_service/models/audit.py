"""The audit log of personal-data reads and changes. Append-only: the application never updates or deletes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        # The audit page's filters, read newest first by keyset on id (alembic 0019).
        Index("ix_audit_event_user_id_id", "user_id", "id"),
        Index("ix_audit_event_username_id", "username", "id"),
        Index("ix_audit_event_action_id", "action", "id"),
    )

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
    # What an update changed: [{"field", "old", "new"}] for non-personal fields, [{"field", "changed": true}]
    # for personal ones (no values).
    changes: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # sha256 of the canonical fields and patient ids chained to the previous row's hash
    # (``audit/chain.py``); NULL only for rows written before the chain began (alembic 0019).
    chain_hash: str | None = Field(default=None, max_length=64)


class AuditEventPatient(SQLModel, table=True):
    """Which patients an audit event touched, so "who looked at this patient?" is one indexed query."""

    __tablename__ = "audit_event_patient"
    __table_args__ = (Index("ix_audit_event_patient_patient_event", "patient_id", "event_id"),)

    event_id: int = Field(foreign_key="audit_event.id", primary_key=True)
    patient_id: int = Field(primary_key=True, index=True)
