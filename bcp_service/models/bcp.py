"""BCP drafts: one row per generated version of an institution's plan.

A version keeps the context it was rendered from (JSON) and the rendered HTML, so it can be shown
and turned into a .docx again exactly as generated, whatever the registry or templates say later.
The .docx itself is built on demand from the stored HTML.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field, timestamp_field


class DraftState(StrEnum):
    draft = "draft"
    reviewed = "reviewed"  # checked by a hub, the prefecture or an admin, with a comment
    final = "final"  # adopted by the institution (or an admin or hub on its behalf)


class BcpDraft(SQLModel, table=True):
    __tablename__ = "bcp_draft"
    __table_args__ = (
        UniqueConstraint("institution_id", "version"),
        Index("ix_bcp_draft_institution_state", "institution_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id")
    version: int
    plan_kind: str = Field(max_length=30)
    state: str = Field(default=DraftState.draft, max_length=10)

    created_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    # Names kept as text so a deleted account still reads in the history.
    created_by_name: str = Field(max_length=100)
    created_at: datetime = created_at_field()
    reviewed_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    reviewed_by_name: str | None = Field(default=None, max_length=100)
    reviewed_at: datetime | None = timestamp_field()
    review_comment: str | None = Field(default=None, max_length=4000)
    finalised_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    finalised_by_name: str | None = Field(default=None, max_length=100)
    finalised_at: datetime | None = timestamp_field()

    completeness: float = Field(description="0..1, filled slots over all slots")
    blank_count: int
    patient_count: int = Field(default=0)
    # [{"section", "filled", "total"}] and [{"section", "label", "kind", "heading"}], as rendered.
    sections: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    blanks: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Which patients the draft names: every read of the draft is audited against these ids.
    patient_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=300)
    context: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))


class BcpPlan(SQLModel, table=True):
    """A finished plan: the file an institution adopted (.docx or .pdf), one row per upload.

    The file lives in the database, so ``bcp-service db backup`` (SQLite's backup API, pg_dump) keeps it
    with everything else on both engines, and a restore brings it back. Uploading marks the plan
    finished; the newest upload is the plan in force, earlier ones stay as its history.
    """

    __tablename__ = "bcp_plan"
    __table_args__ = (UniqueConstraint("institution_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id")
    version: int
    # The type found in the file's first bytes ("docx" or "pdf"), never the name's extension.
    file_type: str = Field(max_length=10)
    # As the uploader named it, shown in the history; downloads get a name of our own.
    original_name: str = Field(max_length=200)
    size_bytes: int
    sha256: str = Field(max_length=64)
    note: str | None = Field(default=None, max_length=1000)
    # The draft version the plan was written from, when the uploader says so.
    draft_id: int | None = Field(default=None, foreign_key="bcp_draft.id")
    uploaded_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    uploaded_by_name: str = Field(max_length=100)
    uploaded_at: datetime = created_at_field()
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
