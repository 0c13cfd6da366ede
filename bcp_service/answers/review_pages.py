"""The review page: SMS replies the parser could not read or place, with their text and the patients
they may be from; resolve in two taps (open the patient, tap the state). Same Access, service and
audit as ``GET /api/v1/unmatched-replies`` and ``POST /api/v1/unmatched-replies/{id}/resolve``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from bcp_service.answers import review
from bcp_service.answers.review_candidates import candidates_for
from bcp_service.answers.routes import parse_hours
from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.check_states import LABELS as STATE_LABELS
from bcp_service.db import SessionDep
from bcp_service.errors import Conflict, NotFound, ServiceError
from bcp_service.labels import CONTACT_KIND_LABELS, TIER_LABELS
from bcp_service.models.rounds import ANSWER_STATES
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/review", include_in_schema=False)
Starter = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]
PAGE_SIZE = 30
REASON_LABELS = {
    "unreadable": "読み取れない返信",
    "no_open_check": "実施中の安否確認の対象ではない番号",
    "several_open_checks": "同じ番号の対象が複数",
}
ERRORS = {
    "gone": "この返信は見つからないか、担当外です。",
    "already": "この返信は既に処理されています。",
    "input": "入力を確認してください（状態を選び、残り時間は数字で）。",
}
CONTACT_LABELS = {kind: f"{label}の番号" for kind, label in CONTACT_KIND_LABELS.items()}

register_home_link(
    "/review",
    "SMS返信の確認",
    "自動で読み取れなかった返信を、該当する患者の回答として記録",
    (Role.admin, Role.prefecture, Role.hub),
)


def reason_label(reason: str) -> str:
    if reason.startswith("ambiguous"):
        return "複数の意味に読める返信"
    return REASON_LABELS.get(reason, reason)


@router.get("")
def review_page(
    request: Request,
    principal: Starter,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    done: int | None = None,
):
    return _render(request, principal, session, offset=offset, done=done)


def _render(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    offset: int = 0,
    done: int | None = None,
    error: str | None = None,
    error_reply: int | None = None,
    status_code: int = 200,
):
    rows, total = review.list_unmatched(
        session=session, principal=principal, resolved=False, limit=PAGE_SIZE, offset=offset
    )
    candidates = candidates_for(session=session, replies=rows, scope=patient_scope(principal))
    shown = set(review.patients_behind(session, rows)) | {c.patient_id for cs in candidates.values() for c in cs}
    audit(session=session, principal=principal, action="reply.list", request=request, patient_ids=sorted(shown))
    return page(
        "rounds/review.html",
        principal,
        rows=rows,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        candidates=candidates,
        done=done,
        error=ERRORS.get(error or ""),
        error_reply=error_reply,
        status_code=status_code,
        reason_label=reason_label,
        answer_states=[s.value for s in ANSWER_STATES],
        state_labels=STATE_LABELS,
        tier_labels=TIER_LABELS,
        contact_labels=CONTACT_LABELS,
    )


@router.post("/{reply_id}/resolve")
def resolve_form(
    reply_id: int,
    request: Request,
    principal: Starter,
    session: SessionDep,
    check_id: Annotated[str, Form(max_length=20)] = "",
    state: Annotated[str, Form(max_length=20)] = "",
    hours: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
):
    """A state button records the reply as that patient's answer; the dismiss button (no check) sets it aside."""
    try:
        chosen = int(check_id) if check_id else None
        hours_left = parse_hours(hours)
        if chosen is not None and state not in {s.value for s in ANSWER_STATES}:
            raise ValueError("state")
    except ValueError:
        return _render(request, principal, session, error="input", error_reply=reply_id, status_code=422)
    try:
        reply = review.resolve_reply(
            session=session,
            principal=principal,
            reply_id=reply_id,
            check_id=chosen,
            state=state or None,
            hours_left=hours_left,
            note=note.strip() or None,
        )
    except ServiceError as exc:
        session.rollback()
        code = "gone" if isinstance(exc, NotFound) else "already" if isinstance(exc, Conflict) else "input"
        return _render(request, principal, session, error=code, error_reply=reply_id, status_code=exc.status_code)
    audit(
        session=session,
        principal=principal,
        action="reply.resolve",
        request=request,
        patient_ids=review.patients_behind(session, [reply]),
        detail=f"reply {reply_id}: {reply.resolution}",
    )
    return RedirectResponse(f"/review?done={reply_id}", status_code=status.HTTP_303_SEE_OTHER)
