"""The one-tap answer page: plain HTML forms, no JavaScript, no login; the token is the credential.

No CSRF token: there is no session to ride on, and whoever holds the link may answer anyway.
A hidden nonce per rendered form makes a double-tapped or re-sent POST record one answer.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from bcp_service.answers.service import LinkTarget, find_link, record_answer
from bcp_service.auth.deps import Access
from bcp_service.db import SessionDep
from bcp_service.models import PatientContact
from bcp_service.models.rounds import ANSWER_STATES, AnswerChannel
from bcp_service.rounds.locking import write_unit
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import render

router = APIRouter(include_in_schema=False)
PUBLIC = Access(public="answer link: the random token in the URL is the credential")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to any other site
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}
VALID_STATES = {state.value for state in ANSWER_STATES}


def _page(name: str, status_code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(render(f"answers/{name}.html", **context), status_code=status_code, headers=HEADERS)


def _unusable(link: LinkTarget | None) -> HTMLResponse | None:
    if link is None:
        return _page("gone", 404, drill=False, heading="このリンクは使えません",
                     message="リンクが正しくないか、途中で切れています。届いたメッセージのリンクをもう一度開いてください。")
    if link.expired:
        return _page("gone", 410, drill=link.safety_round.drill, heading="この安否確認は終了しました",
                     message="回答の受付は終了しています。困っていることがあれば、かかりつけの医療機関や訪問看護ステーションに連絡してください。")
    return None


def _form(request: Request, link: LinkTarget, *, status_code: int = 200, error: str | None = None,
          hours: str = "", note: str = "") -> HTMLResponse:
    check = link.check
    current = STATE_LABELS.get(check.state) if check.last_answer_at is not None else None
    return _page(
        "form", status_code, drill=link.safety_round.drill, title=link.safety_round.title, current=current,
        error=error, nonce=secrets.token_urlsafe(12), action=request.url.path, hours=hours, note=note,
    )


@router.get("/a/{token}", dependencies=[Depends(PUBLIC)])
def answer_form(token: str, request: Request, session: SessionDep):
    link = find_link(session=session, token=token)
    return _unusable(link) or _form(request, link)


@router.post("/a/{token}", dependencies=[Depends(PUBLIC)])
def answer_submit(
    token: str, request: Request, session: SessionDep,
    state: Annotated[str, Form(max_length=20)] = "",
    hours: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    nonce: Annotated[str, Form(max_length=64)] = "",
):
    with write_unit(session):
        return _submit(request, session, token, state, hours, note, nonce)


def _submit(request: Request, session: Session, token: str, state: str, hours: str, note: str, nonce: str):
    link = find_link(session=session, token=token)
    unusable = _unusable(link)
    if unusable is not None:
        return unusable
    if state not in VALID_STATES:
        return _form(request, link, status_code=422, error="ボタンを1つ選んでください。", hours=hours, note=note)
    try:
        hours_left = parse_hours(hours)
    except ValueError:
        return _form(request, link, status_code=422, error="残り時間は数字で入力してください（例: 3 または 2.5）。",
                     hours=hours, note=note)
    contact = session.get(PatientContact, link.message.contact_id) if link.message.contact_id else None
    record_answer(
        session=session, check_id=link.check.id, state=state, channel=AnswerChannel.link,
        hours_left=hours_left if state == "power_out" else None, note=note.strip()[:1000] or None,
        answered_by=contact.kind if contact else None, contact_id=link.message.contact_id,
        idempotency_key=f"link:{link.message.id}:{nonce or secrets.token_urlsafe(12)}",
    )
    return _page("thanks", drill=link.safety_round.drill, state=state, state_label=STATE_LABELS[state],
                 hours=hours_left if state == "power_out" else None, action=request.url.path)


def parse_hours(text: str) -> float | None:
    """Hours as people type them on a phone: full-width digits, "3時間", "2.5"."""
    value = unicodedata.normalize("NFKC", text or "").strip().removesuffix("時間").strip()
    if not value:
        return None
    hours = float(value)
    if not 0 <= hours <= 720:
        raise ValueError("out of range")
    return round(hours, 2)
