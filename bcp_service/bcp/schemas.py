"""API shapes for BCP drafts and plan coverage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bcp_service.bcp.context import PLAN_KIND_LABELS, PlanKind
from bcp_service.bcp.render import Blank, SectionCompleteness
from bcp_service.models.bcp import BcpDraft, BcpPlan

STATE_LABELS = {"draft": "草案", "reviewed": "確認済み", "final": "確定"}


class BcpDraftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_kind: PlanKind | None = Field(
        None,
        description="omit to choose from the institution: active-institution designation, else its kind",
    )


class BcpDraftReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] = Field(
        description="what the reviewer asks the institution to check or change"
    )


class BcpDraftSummary(BaseModel):
    id: int
    institution_id: int
    version: int
    plan_kind: PlanKind
    plan_kind_label: str
    state: Literal["draft", "reviewed", "final"]
    state_label: str
    created_by_name: str
    created_at: datetime
    reviewed_by_name: str | None
    reviewed_at: datetime | None
    finalised_by_name: str | None
    finalised_at: datetime | None
    completeness: float
    blank_count: int
    patient_count: int
    docx_url: str
    preview_url: str

    @classmethod
    def of(cls, draft: BcpDraft, **extra) -> BcpDraftSummary:
        return cls(
            id=draft.id,
            institution_id=draft.institution_id,
            version=draft.version,
            plan_kind=draft.plan_kind,
            plan_kind_label=PLAN_KIND_LABELS.get(draft.plan_kind, draft.plan_kind),
            state=draft.state,
            state_label=STATE_LABELS[draft.state],
            created_by_name=draft.created_by_name,
            created_at=draft.created_at,
            reviewed_by_name=draft.reviewed_by_name,
            reviewed_at=draft.reviewed_at,
            finalised_by_name=draft.finalised_by_name,
            finalised_at=draft.finalised_at,
            completeness=draft.completeness,
            blank_count=draft.blank_count,
            patient_count=draft.patient_count,
            docx_url=f"/api/v1/bcp-drafts/{draft.id}.docx",
            preview_url=f"/bcp/drafts/{draft.id}",
            **extra,
        )


class BcpDraftPublic(BcpDraftSummary):
    """One version with what it lacks. Blank labels name patients, so reading this is audited."""

    institution_name: str
    title: str
    review_comment: str | None
    sections: list[SectionCompleteness]
    blanks: list[Blank]
    patients_left_out: int = Field(0, description="patients of the draft outside the reader's scope, not shown")

    @classmethod
    def of(cls, draft: BcpDraft, *, institution_name: str, patients_left_out: int = 0) -> BcpDraftPublic:  # type: ignore[override]
        return super().of(
            draft,
            institution_name=institution_name,
            patients_left_out=patients_left_out,
            title=draft.title,
            review_comment=draft.review_comment,
            sections=[SectionCompleteness(**s) for s in draft.sections],
            blanks=[Blank(**b) for b in draft.blanks],
        )


class BcpPlanPublic(BaseModel):
    """A finished plan as uploaded (issue 27.8): the file itself is at ``download_url``, audited."""

    id: int
    institution_id: int
    version: int
    file_type: Literal["docx", "pdf"] = Field(description="read from the file's content, not its name")
    original_name: str
    size_bytes: int
    sha256: str
    note: str | None
    draft_id: int | None = Field(description="the draft version the plan was written from, if given")
    uploaded_by_name: str
    uploaded_at: datetime
    download_url: str

    @classmethod
    def of(cls, plan: BcpPlan) -> BcpPlanPublic:
        return cls(
            id=plan.id,
            institution_id=plan.institution_id,
            version=plan.version,
            file_type=plan.file_type,
            original_name=plan.original_name,
            size_bytes=plan.size_bytes,
            sha256=plan.sha256,
            note=plan.note,
            draft_id=plan.draft_id,
            uploaded_by_name=plan.uploaded_by_name,
            uploaded_at=plan.uploaded_at,
            download_url=f"/api/v1/bcp-plans/{plan.id}/file",
        )


CoverageStatus = Literal["finished", "final", "draft", "none"]


class CoverageInstitution(BaseModel):
    id: int
    name: str
    kind: str
    kind_ja: str
    status: CoverageStatus = Field(
        description="finished: a finished plan (file) is registered; final: a draft version adopted but no finished "
        "plan uploaded; draft: drafts only; none: no draft"
    )
    stale: bool = Field(description="the plan counted (finished plan, else adopted draft) is more than a year old")
    latest_draft_id: int | None
    latest_version: int | None
    finalised_at: datetime | None
    latest_plan_id: int | None = None
    plan_version: int | None = None
    finished_at: datetime | None = Field(None, description="when the newest finished plan was uploaded")


class CoverageGroup(BaseModel):
    id: int
    name: str
    total: int
    finished: int = Field(0, description="with a finished plan uploaded (stale ones included)")
    final: int = Field(description="a draft version adopted, no finished plan uploaded (stale ones included)")
    stale: int = Field(description="finished or final, but more than a year old")
    draft_only: int = Field(description="drafts only, none adopted and no finished plan")
    none: int
    institutions: list[CoverageInstitution] | None = Field(
        None, description="left out for the aggregate role, which sees counts only"
    )


class BcpCoverageReport(BaseModel):
    generated_at: datetime
    stale_after_days: int
    regions: list[CoverageGroup]
    hubs: list[CoverageGroup]
