"""Operations: the health probe's table and the record of a restore from backup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field


class HealthProbe(SQLModel, table=True):
    """Always empty: ``/healthz`` inserts a row and rolls it back (``ops/health.py``).

    On PostgreSQL the probe truncates it first in the same transaction, so the insert must extend a new
    file: it fails as the service's own inserts fail when the tablespace's disk is full.
    """

    __tablename__ = "health_probe"

    id: int | None = Field(default=None, primary_key=True)
    filler: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class RoundRestore(SQLModel, table=True):
    """A round that was open when the database was restored from a backup (``bcp-service db restore``).

    The round page and the board show it: answers received after ``backup_taken_at`` may be gone
    (``possibly_missing``: check ids and what told us), and patients the provider had already messaged
    are not sent the same message again (``suppressed``).
    """

    __tablename__ = "round_restore"
    __table_args__ = (Index("ix_round_restore_round", "round_id"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="safety_round.id")
    restored_at: datetime = created_at_field()
    backup_taken_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    suppressed: int = 0
    possibly_missing: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
