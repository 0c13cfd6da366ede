"""Nurse pages (phone first, cookie session) and the JSON endpoint their script posts results to.

Without JavaScript the result form is a plain POST that redirects back to the list. With it, the
page queues each result on the phone and sends it to ``POST /api/v1/nurse/results`` when it can
(static/nurse.js), with an id made on the phone so a resend never counts twice.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from bcp_service.answers.routes import parse_hours
from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.board.schemas import STATE_LABELS
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.escalation import oncall
from bcp_service.labels import CHANNEL_LABELS, CONTACT_KIND_LABELS, TIER_LABELS
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import CheckState
from bcp_service.nurse import service
from bcp_service.nurse.schemas import METHOD_LABELS, NURSE_STATE_LABELS, NURSE_STATES, NurseResultIn, NurseResultOut
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/nurse", include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/nurse", tags=["nurse"])
Nurse = Annotated[Principal, Depends(Access(Role.nurse))]
SERVICE_WORKER = Path(__file__).resolve().parents[1] / "static" / "nurse-sw.js"
MESSAGES = {
    "saved": "記録しました。",
    "again": "この記録は既に受け付けています。",
}

register_home_link(
    "/nurse",
    "担当患者（訪問看護）",
    "実施中の安否確認で担当する患者。電話・結果の記録（スマートフォン向け）",
    (Role.nurse,),
)


@router.get("")
def nurse_page(
    request: Request,
    principal: Nurse,
    session: SessionDep,
    done: int | None = None,
    message: str | None = None,
    error: str | None = None,
):
    rows, total = service.list_my_checks(session=session, principal=principal)
    oncall_pages = oncall.banners_for(session=session, principal=principal)  # oncall (issue 25.4)
    audit(
        session=session,
        principal=principal,
        action="nurse.list",
        request=request,
        patient_ids=list(dict.fromkeys([*(r.patient_id for r in rows), *oncall.banner_patient_ids(oncall_pages)])),
    )
    response = page(
        "nurse/list.html",
        principal,
        rows=rows,
        total=total,
        done=done,
        message=MESSAGES.get(message or ""),
        error=error,
        drill=any(r.drill for r in rows),
        groups=service.group_rows(rows),
        state_labels=STATE_LABELS,
        nurse_states=NURSE_STATES,
        nurse_state_labels=NURSE_STATE_LABELS,
        method_labels=METHOD_LABELS,
        tier_labels=TIER_LABELS,
        channel_labels=CHANNEL_LABELS,
        contact_kind_labels=CONTACT_KIND_LABELS,
        new_client_id=lambda: secrets.token_urlsafe(16),
        tz=request.app.state.settings.timezone,
        generated_at=utcnow(),
        oncall_pages=oncall_pages,
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    return response


@router.get("/sw.js", dependencies=[Depends(Access(public="service worker script: code only, no data"))])
def nurse_service_worker() -> FileResponse:
    """The service worker that keeps the last list for reopening without signal (static/nurse-sw.js).

    Served under /nurse so that it may control the page; ``Service-Worker-Allowed`` lets it take the
    scope ``/nurse`` (the page itself, not only what lies below it)."""
    return FileResponse(
        SERVICE_WORKER,
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/nurse", "Cache-Control": "no-cache"},
    )


@router.post("/checks/{check_id}/result")
def nurse_form_result(
    check_id: int,
    request: Request,
    principal: Nurse,
    session: SessionDep,
    state: Annotated[str, Form(max_length=20)] = "",
    method: Annotated[str, Form(max_length=10)] = "phone",
    hours: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    client_id: Annotated[str, Form(max_length=64)] = "",
    power: Annotated[str, Form(max_length=10)] = "",
    hours_unknown: Annotated[str, Form(max_length=5)] = "",
    needs_transport: Annotated[str, Form(max_length=5)] = "",
    needs_admission: Annotated[str, Form(max_length=5)] = "",
    evacuated_to: Annotated[str, Form(max_length=200)] = "",
):
    """The same result without JavaScript: recorded, then back to the list (a reload repeats nothing)."""
    try:
        data = NurseResultIn(
            client_id=client_id or secrets.token_urlsafe(16),
            check_id=check_id,
            state=state,
            method=method if method in METHOD_LABELS else "phone",
            hours_left=parse_hours(hours),
            note=note.strip() or None,
            power=power or None,
            hours_unknown=bool(hours_unknown),
            needs_transport=bool(needs_transport),
            needs_admission=bool(needs_admission),
            evacuated_to=evacuated_to.strip() or None,
        )
    except (ValidationError, ValueError):
        return RedirectResponse(f"/nurse?error=input#c{check_id}", status_code=status.HTTP_303_SEE_OTHER)
    try:
        _answer, created = service.record_result(session=session, principal=principal, data=data)
    except ServiceError:
        return RedirectResponse(f"/nurse?error=record#c{check_id}", status_code=status.HTTP_303_SEE_OTHER)
    audit(
        session=session,
        principal=principal,
        action="nurse.result",
        request=request,
        patient_ids=[_answer_patient(session, check_id)],
        detail=f"check {check_id}",
    )
    return RedirectResponse(
        f"/nurse?done={check_id}&message={'saved' if created else 'again'}#c{check_id}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@api_router.post("/results", response_model=NurseResultOut)
def post_nurse_result(data: NurseResultIn, request: Request, principal: Nurse, session: SessionDep):
    """Record a nurse's result (bearer, or the page's cookie session with the X-CSRF-Token header).

    Send the same ``client_id`` again after a timeout: the first record is returned, nothing is added.
    """
    answer, created = service.record_result(session=session, principal=principal, data=data)
    audit(
        session=session,
        principal=principal,
        action="nurse.result",
        request=request,
        patient_ids=[_answer_patient(session, data.check_id)],
        detail=f"check {data.check_id}",
    )
    result = NurseResultOut(
        answer_id=answer.id, check_id=answer.check_id, state=CheckState(answer.state), created=created
    )
    # A response, not the model: FastAPI would validate a returned model on another pool thread while this
    # transaction still holds the check's and the round counters' row locks. In a burst every pool thread can be
    # waiting for those locks, and this request then never gets one (load_tests/RESULTS.md, "Disaster burst").
    return JSONResponse(result.model_dump(mode="json"))


def _answer_patient(session: Session, check_id: int) -> int:
    from bcp_service.models import SafetyCheck

    return session.get(SafetyCheck, check_id).patient_id
