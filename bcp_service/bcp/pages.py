"""BCP pages: drafts list, an institution's versions, the draft preview with review forms, coverage.

Same services and scope as the API; forms post back here (cookie session + CSRF token) and
redirect to the preview, so a reload never repeats an action.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlmodel import Session

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.bcp import plans, service
from bcp_service.bcp.context import PLAN_KIND_LABELS
from bcp_service.bcp.coverage import compute_coverage
from bcp_service.bcp.reader import for_reader, left_out_note
from bcp_service.bcp.routes import COVERAGE_VIEWERS, DRAFTERS, FINALISERS, REVIEWERS, read_upload
from bcp_service.bcp.schemas import STATE_LABELS, BcpDraftPublic
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.models import BcpDraft, Institution
from bcp_service.models.bcp import DraftState
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/bcp", include_in_schema=False)
Drafter = Annotated[Principal, Depends(Access(*DRAFTERS))]
Reviewer = Annotated[Principal, Depends(Access(*REVIEWERS))]
Finaliser = Annotated[Principal, Depends(Access(*FINALISERS))]
CoverageViewer = Annotated[Principal, Depends(Access(*COVERAGE_VIEWERS))]

register_home_link(
    "/bcp/drafts",
    "BCP草案",
    "登録情報から業務継続計画の草案を作成・確認・確定し、完成した計画（Word・PDF）を登録",
    DRAFTERS,
)
register_home_link(
    "/bcp/coverage",
    "BCP作成状況",
    "在宅医療圏・連携拠点ごとの完成した計画と草案の数、1年以上前の計画",
    COVERAGE_VIEWERS,
)


def _error_page(principal: Principal, exc: ServiceError) -> Response:
    return page("bcp_pages/error.html", principal, status_code=exc.status_code, message=exc.message)


def _document_body(html: str) -> Markup:
    """The rendered plan without its <head>: our own templates made it, with autoescape on."""
    body = html.split("<body>", 1)[-1].rsplit("</body>", 1)[0]
    return Markup(body)


@router.get("/drafts")
def drafts_page(principal: Drafter, session: SessionDep):
    rows = service.list_recent_drafts(session=session, principal=principal)
    return page(
        "bcp_pages/drafts.html",
        principal,
        rows=rows,
        states=STATE_LABELS,
        kinds=PLAN_KIND_LABELS,
        own_institution_id=principal.scope_id if principal.role == Role.institution else None,
    )


def _institution(
    request: Request,
    principal: Principal,
    session: Session,
    institution: Institution,
    *,
    status_code: int = 200,
    error: str | None = None,
    plan_error: str | None = None,
    uploaded: int | None = None,
) -> Response:
    drafts = service.list_drafts(session=session, principal=principal, institution_id=institution.id)
    return page(
        "bcp_pages/institution.html",
        principal,
        status_code=status_code,
        institution=institution,
        drafts=drafts,
        states=STATE_LABELS,
        kinds=PLAN_KIND_LABELS,
        error=error,
        plan_error=plan_error,
        uploaded=uploaded,
        plans=plans.list_plans(session=session, principal=principal, institution_id=institution.id),
        type_labels=plans.TYPE_LABELS,
        can_upload=principal.role in FINALISERS,
        size_text=plans.size_text,
        max_size=plans.size_text(request.app.state.settings.plan_max_bytes),
    )


@router.get("/institutions/{institution_id}")
def institution_page(
    institution_id: int,
    request: Request,
    principal: Drafter,
    session: SessionDep,
    uploaded: str = "",
):
    try:
        institution = service.get_institution_in_scope(
            session=session, principal=principal, institution_id=institution_id
        )
    except ServiceError as exc:
        return _error_page(principal, exc)
    shown = int(uploaded) if uploaded.isascii() and uploaded.isdigit() and len(uploaded) < 6 else None
    return _institution(request, principal, session, institution, uploaded=shown)


@router.post("/institutions/{institution_id}/plans")
def upload_plan_from_page(
    institution_id: int,
    request: Request,
    principal: Finaliser,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
    note: Annotated[str, Form(max_length=plans.MAX_NOTE_CHARS)] = "",
    draft_id: Annotated[str, Form(max_length=12)] = "",
):
    """Mark the plan finished with the file adopted; a refused file shows the page again with the reason."""
    try:
        institution = service.get_institution_in_scope(
            session=session, principal=principal, institution_id=institution_id
        )
    except ServiceError as exc:
        return _error_page(principal, exc)
    try:
        based_on = int(draft_id) if draft_id.strip() else None
    except ValueError:
        based_on = -1  # not a version of this institution: refused below in words
    try:
        plan = plans.upload_plan(
            session=session,
            principal=principal,
            institution=institution,
            upload=read_upload(request, file),
            max_bytes=request.app.state.settings.plan_max_bytes,
            note=note,
            draft_id=based_on,
        )
    except ServiceError as exc:
        return _institution(
            request, principal, session, institution, status_code=exc.status_code, plan_error=exc.message
        )
    plans.audit_plan(session=session, principal=principal, plan=plan, action="bcp_plan.upload", request=request)
    return RedirectResponse(f"/bcp/institutions/{institution.id}?uploaded={plan.version}#plans", status_code=303)


@router.post("/institutions/{institution_id}/drafts")
def generate_from_page(
    institution_id: int,
    request: Request,
    principal: Drafter,
    session: SessionDep,
    plan_kind: Annotated[str, Form(max_length=30)] = "",
):
    try:
        institution = service.get_institution_in_scope(
            session=session, principal=principal, institution_id=institution_id
        )
        if plan_kind and plan_kind not in PLAN_KIND_LABELS:
            raise ServiceError("計画の種類が正しくありません (unknown plan kind)")
        draft = service.generate_draft(
            session=session,
            principal=principal,
            institution=institution,
            plan_kind=plan_kind or None,  # type: ignore[arg-type]
        )
    except ServiceError as exc:
        if exc.status_code == 404:
            return _error_page(principal, exc)
        return _institution(request, principal, session, institution, status_code=exc.status_code, error=exc.message)
    service.audit_read(session=session, principal=principal, draft=draft, action="bcp_draft.generate", request=request)
    return RedirectResponse(f"/bcp/drafts/{draft.id}", status_code=303)


def _preview(
    request: Request,
    principal: Principal,
    session: Session,
    draft: BcpDraft,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    shown, left_out = for_reader(session=session, principal=principal, draft=draft)
    service.audit_read(session=session, principal=principal, draft=shown, action="bcp_draft.view", request=request)
    latest = service.latest_version(session, draft.institution_id) == draft.version
    institution = session.get(Institution, draft.institution_id)
    return page(
        "bcp_pages/draft.html",
        principal,
        status_code=status_code,
        draft=draft,
        info=BcpDraftPublic.of(shown, institution_name=institution.name, patients_left_out=left_out),
        document=_document_body(shown.html),
        left_out_note=left_out_note(left_out) if left_out else None,
        latest=latest,
        error=error,
        can_review=latest and draft.state == DraftState.draft and principal.role in REVIEWERS,
        can_finalise=latest and draft.state == DraftState.reviewed and principal.role in FINALISERS,
    )


@router.get("/drafts/{draft_id}")
def draft_page(draft_id: int, request: Request, principal: Drafter, session: SessionDep):
    try:
        draft = service.get_draft(session=session, principal=principal, draft_id=draft_id)
    except ServiceError as exc:
        return _error_page(principal, exc)
    return _preview(request, principal, session, draft)


@router.post("/drafts/{draft_id}/review")
def review_from_page(
    draft_id: int,
    request: Request,
    principal: Reviewer,
    session: SessionDep,
    comment: Annotated[str, Form(min_length=1, max_length=4000)],
):
    try:
        draft = service.get_draft(session=session, principal=principal, draft_id=draft_id)
    except ServiceError as exc:
        return _error_page(principal, exc)
    try:
        if not comment.strip():
            raise ServiceError("確認のコメントを入力してください (a comment is required)")
        service.review_draft(session=session, principal=principal, draft=draft, comment=comment)
    except ServiceError as exc:
        return _preview(request, principal, session, draft, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/bcp/drafts/{draft.id}", status_code=303)


@router.post("/drafts/{draft_id}/finalise")
def finalise_from_page(draft_id: int, request: Request, principal: Finaliser, session: SessionDep):
    try:
        draft = service.get_draft(session=session, principal=principal, draft_id=draft_id)
    except ServiceError as exc:
        return _error_page(principal, exc)
    try:
        service.finalise_draft(session=session, principal=principal, draft=draft)
    except ServiceError as exc:
        return _preview(request, principal, session, draft, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/bcp/drafts/{draft.id}", status_code=303)


@router.get("/coverage")
def coverage_page(principal: CoverageViewer, session: SessionDep, prefecture_id: int | None = None):
    report = compute_coverage(session=session, principal=principal, prefecture_id=prefecture_id)
    return page("bcp_pages/coverage.html", principal, report=report, show_names=principal.role != Role.aggregate)
