"""BCP drafts: generate a version from the registry, read it in scope, review it, adopt it.

States: draft → reviewed (hub, prefecture or admin, with a comment) → final (the institution,
its hub or an admin). Only the newest version of an institution moves; generating again makes a
new version in state draft and leaves earlier ones as they were, so a final plan stays final
until a newer one is adopted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal, municipality_scope
from bcp_service.auth.roles import Role
from bcp_service.bcp.builder import build
from bcp_service.bcp.context import PlanKind
from bcp_service.bcp.docx_writer import html_to_docx
from bcp_service.bcp.render import render_draft
from bcp_service.bcp.schemas import STATE_LABELS
from bcp_service.errors import Conflict, NotFound
from bcp_service.models import BcpDraft, Institution, Municipality
from bcp_service.models.base import utcnow
from bcp_service.models.bcp import DraftState

log = logging.getLogger(__name__)
INSTITUTION_NOT_FOUND = "施設が見つかりません (institution not found)"
DRAFT_NOT_FOUND = "BCP草案が見つかりません (draft not found)"
# The big columns stay in the database when only the version list is wanted.
_METADATA_ONLY = (defer(BcpDraft.html), defer(BcpDraft.context), defer(BcpDraft.blanks))


def institution_scope(principal: Principal) -> list:
    """Conditions on ``Institution`` rows whose drafts the principal may see and make."""
    if principal.role == Role.institution:
        return [Institution.id == principal.scope_id]
    area = municipality_scope(principal)
    if not area:
        return []
    return [col(Institution.municipality_id).in_(select(Municipality.id).where(*area))]


def get_institution_in_scope(*, session: Session, principal: Principal, institution_id: int) -> Institution:
    institution = session.exec(
        select(Institution).where(Institution.id == institution_id, *institution_scope(principal))
    ).first()
    if institution is None:
        raise NotFound(INSTITUTION_NOT_FOUND)
    return institution


def get_draft(*, session: Session, principal: Principal, draft_id: int) -> BcpDraft:
    draft = session.exec(
        select(BcpDraft)
        .join(Institution, Institution.id == BcpDraft.institution_id)
        .where(BcpDraft.id == draft_id, *institution_scope(principal))
    ).first()
    if draft is None:
        raise NotFound(DRAFT_NOT_FOUND)
    return draft


def list_drafts(*, session: Session, principal: Principal, institution_id: int) -> list[BcpDraft]:
    get_institution_in_scope(session=session, principal=principal, institution_id=institution_id)
    return list(
        session.exec(
            select(BcpDraft)
            .options(*_METADATA_ONLY)
            .where(BcpDraft.institution_id == institution_id)
            .order_by(col(BcpDraft.version).desc())
        ).all()
    )


def list_recent_drafts(*, session: Session, principal: Principal, limit: int = 100) -> list[tuple[BcpDraft, str]]:
    """The newest versions in scope with their institution's name, newest first."""
    rows = session.exec(
        select(BcpDraft, Institution.name)
        .options(*_METADATA_ONLY)
        .join(Institution, Institution.id == BcpDraft.institution_id)
        .where(*institution_scope(principal))
        .order_by(col(BcpDraft.created_at).desc(), col(BcpDraft.id).desc())
        .limit(limit)
    ).all()
    return [(draft, name) for draft, name in rows]


def latest_version(session: Session, institution_id: int) -> int:
    return session.exec(
        select(func.coalesce(func.max(BcpDraft.version), 0)).where(BcpDraft.institution_id == institution_id)
    ).one()


def generate_draft(
    *,
    session: Session,
    principal: Principal | None,
    institution: Institution,
    plan_kind: PlanKind | None = None,
    now: datetime | None = None,
) -> BcpDraft:
    """Render the registry's current view of ``institution`` as its next version.

    The caller has checked scope and records the audit event (the draft names patients).
    """
    built = build(session=session, institution_id=institution.id, plan_kind=plan_kind, now=now)
    rendered = render_draft(built.context)
    draft = BcpDraft(
        institution_id=institution.id,
        version=latest_version(session, institution.id) + 1,
        plan_kind=built.context.plan_kind,
        created_by_user_id=principal.user_id if principal else None,
        created_by_name=principal.username if principal else "system:cli",
        completeness=rendered.overall_completeness,
        blank_count=len(rendered.blanks),
        patient_count=len(built.context.patients),
        sections=[s.model_dump(include={"section", "filled", "total"}) for s in rendered.sections],
        blanks=[b.model_dump() for b in rendered.blanks],
        patient_ids=built.patient_ids,
        title=rendered.title,
        context=built.context.model_dump(mode="json"),
        html=rendered.html,
    )
    if now is not None:
        draft.created_at = now
    session.add(draft)
    session.flush()
    log.info(
        "bcp_draft.generated",
        extra={
            "draft_id": draft.id,
            "institution_id": institution.id,
            "version": draft.version,
            "blank_count": draft.blank_count,
            "patient_count": len(built.patient_ids),
        },
    )
    return draft


def _ensure_latest(session: Session, draft: BcpDraft, action: str) -> None:
    newest = latest_version(session, draft.institution_id)
    if draft.version != newest:
        raise Conflict(
            f"第{draft.version}版より新しい第{newest}版があります。最新版を{action}してください "
            f"(a newer version exists: {newest})"
        )


def review_draft(
    *, session: Session, principal: Principal, draft: BcpDraft, comment: str, now: datetime | None = None
) -> BcpDraft:
    if draft.state != DraftState.draft:
        raise Conflict(
            f"この草案は既に{STATE_LABELS[draft.state]}です。確認済みにできるのは「草案」の版だけです "
            f"(only a draft can be reviewed; this one is {draft.state})"
        )
    _ensure_latest(session, draft, "確認")
    draft.state = DraftState.reviewed
    draft.reviewed_by_user_id = principal.user_id
    draft.reviewed_by_name = principal.username
    draft.reviewed_at = now or utcnow()
    draft.review_comment = comment.strip()
    session.add(draft)
    session.flush()
    log.info("bcp_draft.reviewed", extra={"draft_id": draft.id, "user_id": principal.user_id})
    return draft


def finalise_draft(*, session: Session, principal: Principal, draft: BcpDraft, now: datetime | None = None) -> BcpDraft:
    if draft.state != DraftState.reviewed:
        reason = (
            "連携拠点などの確認がまだです。確認済みの版だけを確定できます"
            if draft.state == DraftState.draft
            else "この版は既に確定しています"
        )
        raise Conflict(f"{reason} (only a reviewed draft can be finalised; this one is {draft.state})")
    _ensure_latest(session, draft, "確定")
    draft.state = DraftState.final
    draft.finalised_by_user_id = principal.user_id
    draft.finalised_by_name = principal.username
    draft.finalised_at = now or utcnow()
    session.add(draft)
    session.flush()
    log.info("bcp_draft.finalised", extra={"draft_id": draft.id, "user_id": principal.user_id})
    return draft


def render_docx(draft: BcpDraft) -> bytes:
    """The editable document, built from the stored HTML, so every download of a version is the same."""
    return html_to_docx(
        draft.html,
        title=draft.title,
        header=f"{draft.title}（第{draft.version}版）",
        created=draft.created_at if draft.created_at.tzinfo else draft.created_at.replace(tzinfo=UTC),
    )


def docx_filename(draft: BcpDraft) -> str:
    return f"bcp-draft-{draft.institution_id}-v{draft.version}.docx"


def audit_read(
    *, session: Session, principal: Principal | None, draft: BcpDraft, action: str, request: Request | None = None
) -> None:
    """Every view of a draft is a read of the patients it names."""
    record(
        session=session,
        principal=principal,
        action=action,
        patient_ids=draft.patient_ids or [],
        request=request,
        detail=f"bcp_draft:{draft.id}",
    )
