"""Shared column helpers for table models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at_field():
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


def timestamp_field(nullable: bool = True):
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable)
