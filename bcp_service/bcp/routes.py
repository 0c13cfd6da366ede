"""BCP API: generate drafts from the registry, list versions, download .docx, review, finalise, coverage.

Scope: an admin sees every institution, the prefecture its own prefecture, a hub the
municipalities it covers, an institution itself. Anything outside answers 404, as if it did not
exist. A draft names patients, so generating, reading and downloading one are audited reads.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, File, Form, Request, UploadFile, status
from fastapi.responses import Response
from sqlmodel import Session

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.bcp import plans, service
from bcp_service.bcp.coverage import compute_coverage
from bcp_service.bcp.reader import for_reader
from bcp_service.bcp.schemas import (
    BcpCoverageReport,
    BcpDraftCreate,
    BcpDraftPublic,
    BcpDraftReview,
    BcpDraftSummary,
    BcpPlanPublic,
)
from bcp_service.db import SessionDep
from bcp_service.models import Institution

router = APIRouter(prefix="/api/v1", tags=["bcp"])

DRAFTERS = (Role.admin, Role.prefecture, Role.hub, Role.institution)
REVIEWERS = (Role.admin, Role.prefecture, Role.hub)
FINALISERS = (Role.admin, Role.hub, Role.institution)
COVERAGE_VIEWERS = (Role.admin, Role.prefecture, Role.hub, Role.aggregate)
Drafter = Annotated[Principal, Depends(Access(*DRAFTERS))]
Reviewer = Annotated[Principal, Depends(Access(*REVIEWERS))]
Finaliser = Annotated[Principal, Depends(Access(*FINALISERS))]
CoverageViewer = Annotated[Principal, Depends(Access(*COVERAGE_VIEWERS))]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def draft_public(session: Session, draft, left_out: int = 0) -> BcpDraftPublic:
    institution = session.get(Institution, draft.institution_id)
    return BcpDraftPublic.of(draft, institution_name=institution.name, patients_left_out=left_out)


@router.post(
    "/institutions/{institution_id}/bcp-drafts",
    response_model=BcpDraftPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Generate the next draft version from the registry",
)
def create_bcp_draft(
    institution_id: int,
    request: Request,
    principal: Drafter,
    session: SessionDep,
    data: Annotated[BcpDraftCreate | None, Body()] = None,
):
    institution = service.get_institution_in_scope(session=session, principal=principal, institution_id=institution_id)
    draft = service.generate_draft(
        session=session, principal=principal, institution=institution, plan_kind=data.plan_kind if data else None
    )
    service.audit_read(session=session, principal=principal, draft=draft, action="bcp_draft.generate", request=request)
    return draft_public(session, *for_reader(session=session, principal=principal, draft=draft))


@router.get("/institutions/{institution_id}/bcp-drafts", response_model=list[BcpDraftSummary])
def list_bcp_drafts(institution_id: int, principal: Drafter, session: SessionDep):
    drafts = service.list_drafts(session=session, principal=principal, institution_id=institution_id)
    return [BcpDraftSummary.of(d) for d in drafts]


# Declared before /bcp-drafts/{draft_id}, which would otherwise take "12.docx" as an id.
@router.get(
    "/bcp-drafts/{draft_id}.docx",
    response_class=Response,
    responses={200: {"content": {DOCX_TYPE: {}}, "description": "the draft as an editable Word document"}},
)
def download_bcp_draft(draft_id: int, request: Request, principal: Drafter, session: SessionDep):
    draft, _left_out = for_reader(
        session=session,
        principal=principal,
        draft=service.get_draft(session=session, principal=principal, draft_id=draft_id),
    )
    data = service.render_docx(draft)
    service.audit_read(session=session, principal=principal, draft=draft, action="bcp_draft.download", request=request)
    return Response(
        data,
        media_type=DOCX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{service.docx_filename(draft)}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/bcp-drafts/{draft_id}", response_model=BcpDraftPublic)
def get_bcp_draft(draft_id: int, request: Request, principal: Drafter, session: SessionDep):
    draft, left_out = for_reader(
        session=session,
        principal=principal,
        draft=service.get_draft(session=session, principal=principal, draft_id=draft_id),
    )
    service.audit_read(session=session, principal=principal, draft=draft, action="bcp_draft.read", request=request)
    return draft_public(session, draft, left_out)


@router.post("/bcp-drafts/{draft_id}/review", response_model=BcpDraftSummary)
def review_bcp_draft(draft_id: int, data: BcpDraftReview, principal: Reviewer, session: SessionDep):
    draft = service.get_draft(session=session, principal=principal, draft_id=draft_id)
    return BcpDraftSummary.of(
        service.review_draft(session=session, principal=principal, draft=draft, comment=data.comment)
    )


@router.post("/bcp-drafts/{draft_id}/finalise", response_model=BcpDraftSummary)
def finalise_bcp_draft(draft_id: int, principal: Finaliser, session: SessionDep):
    draft = service.get_draft(session=session, principal=principal, draft_id=draft_id)
    return BcpDraftSummary.of(service.finalise_draft(session=session, principal=principal, draft=draft))


def read_upload(request: Request, file: UploadFile | None) -> plans.Upload:
    """The uploaded file, read up to one byte past the limit (so an oversized one is told apart)."""
    if file is None or not file.filename:
        return plans.Upload(name="", data=b"")
    limit = request.app.state.settings.plan_max_bytes
    return plans.Upload(name=file.filename, data=file.file.read(limit + 1))


@router.post(
    "/institutions/{institution_id}/bcp-plans",
    response_model=BcpPlanPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Mark the plan finished: upload the adopted plan (.docx or .pdf) as the next version",
)
def upload_bcp_plan(
    institution_id: int,
    request: Request,
    principal: Finaliser,
    session: SessionDep,
    file: Annotated[UploadFile | None, File(description=".docx or .pdf, type read from the content")] = None,
    note: Annotated[str, Form(max_length=plans.MAX_NOTE_CHARS)] = "",
    draft_id: Annotated[int | None, Form()] = None,
):
    institution = service.get_institution_in_scope(session=session, principal=principal, institution_id=institution_id)
    plan = plans.upload_plan(
        session=session,
        principal=principal,
        institution=institution,
        upload=read_upload(request, file),
        max_bytes=request.app.state.settings.plan_max_bytes,
        note=note,
        draft_id=draft_id,
    )
    plans.audit_plan(session=session, principal=principal, plan=plan, action="bcp_plan.upload", request=request)
    return BcpPlanPublic.of(plan)


@router.get("/institutions/{institution_id}/bcp-plans", response_model=list[BcpPlanPublic])
def list_bcp_plans(institution_id: int, principal: Drafter, session: SessionDep):
    """The finished plans, newest first (the newest is the plan in force)."""
    return [
        BcpPlanPublic.of(p)
        for p in plans.list_plans(session=session, principal=principal, institution_id=institution_id)
    ]


@router.get(
    "/bcp-plans/{plan_id}/file",
    response_class=Response,
    responses={200: {"content": {m: {} for m in plans.MEDIA_TYPES.values()}, "description": "the plan as uploaded"}},
)
def download_bcp_plan(plan_id: int, request: Request, principal: Drafter, session: SessionDep):
    plan = plans.get_plan(session=session, principal=principal, plan_id=plan_id)
    plans.audit_plan(session=session, principal=principal, plan=plan, action="bcp_plan.download", request=request)
    return Response(
        plan.content,
        media_type=plans.MEDIA_TYPES[plan.file_type],
        headers={
            "Content-Disposition": f'attachment; filename="{plans.download_name(plan)}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/bcp-coverage", response_model=BcpCoverageReport)
def get_bcp_coverage(principal: CoverageViewer, session: SessionDep, prefecture_id: int | None = None):
    """Per home-care region and per hub: providers with a finished plan (uploaded), with a draft adopted
    (確定) but no finished plan, with drafts only, with none.
    The aggregate role gets the counts without institution lists."""
    return compute_coverage(session=session, principal=principal, prefecture_id=prefecture_id)
