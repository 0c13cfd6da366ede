"""The API for SMS replies that wait for a person (unreadable, ambiguous, not tied to one open check).

With the answers, above rounds (docs/architecture.md); the pages for the same work are review_pages.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from bcp_service.answers import review
from bcp_service.audit.service import record as audit
from bcp_service.db import SessionDep
from bcp_service.registry.schemas import Page
from bcp_service.rounds.routes import Limit, Offset, Starter
from bcp_service.rounds.schemas import UnmatchedReplyPublic, UnmatchedResolve

router = APIRouter(prefix="/api/v1", tags=["rounds"])


@router.get("/unmatched-replies", response_model=Page[UnmatchedReplyPublic])
def get_unmatched(
    request: Request,
    principal: Starter,
    session: SessionDep,
    resolved: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """SMS replies waiting for a person: unreadable, ambiguous, or not tied to exactly one open check."""
    rows, total = review.list_unmatched(
        session=session, principal=principal, resolved=resolved, limit=limit, offset=offset
    )
    audit(
        session=session,
        principal=principal,
        action="reply.list",
        request=request,
        patient_ids=review.patients_behind(session, rows),
    )
    return Page(items=[UnmatchedReplyPublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/unmatched-replies/{reply_id}/resolve", response_model=UnmatchedReplyPublic)
def post_resolve(reply_id: int, data: UnmatchedResolve, request: Request, principal: Starter, session: SessionDep):
    """Record the reply as the answer of a chosen check (with a state), or dismiss it (no check_id)."""
    reply = review.resolve_reply(
        session=session,
        principal=principal,
        reply_id=reply_id,
        check_id=data.check_id,
        state=data.state,
        hours_left=data.hours_left,
        note=data.note,
    )
    audit(
        session=session,
        principal=principal,
        action="reply.resolve",
        request=request,
        patient_ids=review.patients_behind(session, [reply]),
        detail=f"reply {reply_id}: {reply.resolution}",
    )
    return UnmatchedReplyPublic.model_validate(reply)
