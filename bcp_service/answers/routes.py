"""The one-tap answer page: plain HTML forms, no JavaScript, no login; the token is the credential.

No CSRF token: there is no session to ride on, and whoever holds the link may answer anyway.
A hidden nonce per rendered form makes a double-tapped or re-sent POST record one answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import unicodedata
from typing import Annotated

import phonenumbers
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from bcp_service import check_states as states
from bcp_service.answers.links import LinkAnswer, LinkTarget, find_clinic, find_links, record_link_answers
from bcp_service.auth.deps import Access
from bcp_service.db_outage import is_outage
from bcp_service.group_commit import writer
from bcp_service.labels import PLANNED_STAY_ANSWERS
from bcp_service.rounds import counters
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import render

log = logging.getLogger("bcp_service.answers")
router = APIRouter(include_in_schema=False)
PUBLIC = Access(public="answer link: the random token in the URL is the credential")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to any other site
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}
VALID_STATES = set(states.ANSWER_CODES)
BUTTONS = tuple(s for s in states.STATES if s.answer)
# Advance notice (事前連絡): where the person will stay; each is a "safe" answer with a plan.
PLANS = PLANNED_STAY_ANSWERS
CLINIC_READ_SECONDS = 2.0  # the 503 page's read of the clinic's number: no longer than this


def _page(name: str, status_code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(render(f"answers/{name}.html", **context), status_code=status_code, headers=HEADERS)


def _unusable(link: LinkTarget | None) -> HTMLResponse | None:
    if link is None:
        return _page(
            "gone",
            404,
            drill=False,
            heading="このリンクは使えません",
            message="リンクが正しくないか、途中で切れています。届いたメッセージのリンクをもう一度開いてください。",
        )
    if link.expired:
        return _gone_round(link.drill)
    return None


def _gone_round(drill: bool) -> HTMLResponse:
    return _page(
        "gone",
        410,
        drill=drill,
        heading="この安否確認は終了しました",
        message="回答の受付は終了しています。困っていることがあれば、かかりつけの医療機関や訪問看護ステーションに連絡してください。",
    )


def _form(
    request: Request, link: LinkTarget, *, status_code: int = 200, error: str | None = None, form: dict | None = None
) -> HTMLResponse:
    current = STATE_LABELS.get(link.check_state) if link.answered else None
    values = {
        "hours": "",
        "note": "",
        "power": "",
        "hours_unknown": False,
        "needs_transport": False,
        "needs_admission": False,
        "evacuated_to": "",
        **(form or {}),
    }
    return _page(
        "notice" if link.kind == "advance_notice" else "form",
        status_code,
        drill=link.drill,
        title=link.title,
        current=current,
        buttons=BUTTONS,
        plans=PLANS,
        error=error,
        nonce=secrets.token_urlsafe(12),
        action=request.url.path,
        **values,
    )


def _lookup_links(session: Session, tokens: list[str]) -> list[LinkTarget | None]:
    found = find_links(session=session, tokens=tokens)
    return [found.get(token) for token in tokens]


def _try_again(
    request: Request,
    *,
    drill: bool = False,
    state: str = "",
    hours: str = "",
    note: str = "",
    nonce: str = "",
    kept: dict | None = None,
    urgent: bool = False,
    clinic: tuple[str, str | None] | None = None,
) -> HTMLResponse:
    """The database is away (a restart, a failover): a Japanese page, not a bare "Internal Server Error".

    The patient's choice is kept in the form (with the same nonce, so a retry records one answer). An
    answer that needs help (要支援, 搬送必要, ...) also says to call 119 or the clinic, with its number
    when it can still be read (issue 28.2): nobody waits for a page to come back.
    """
    log.warning("answer.database_unavailable", extra={"method": request.method})
    return _page(
        "retry",
        503,
        drill=drill,
        action=request.url.path,
        state=state,
        state_label=STATE_LABELS.get(state) or PLANS.get(state.removeprefix("plan_")),
        hours=hours,
        note=note,
        nonce=nonce or secrets.token_urlsafe(12),
        kept={k: v for k, v in (kept or {}).items() if v},
        urgent=urgent,
        clinic_name=clinic[0] if clinic else None,
        clinic_phone=national_phone(clinic[1]) if clinic and clinic[1] else None,
    )


async def _clinic_if_readable(request: Request, token: str) -> tuple[str, str | None] | None:
    """The clinic's name and number when the database can still be read (it may refuse only writes); None
    otherwise, within a couple of seconds: the page must not wait for a database that is away."""

    def read():
        with request.app.state.read_unit_of_work() as session:
            return find_clinic(session=session, token=token)

    try:
        return await asyncio.wait_for(run_in_threadpool(read), timeout=CLINIC_READ_SECONDS)
    except Exception as exc:
        if not (is_outage(exc) or isinstance(exc, asyncio.TimeoutError)):
            raise
        return None


def national_phone(number: str) -> str:
    """+81 3 1234 5678 as 03-1234-5678 (what people dial); other numbers as stored."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


async def _read_link(request: Request, token: str) -> LinkTarget | None:
    # Batched like the writes: under a burst, one query and one connection for many opened links.
    return await writer(request.app, "answer-link-read", _lookup_links, writes=False).submit(token)


# Async handlers whose database work goes to a group commit (bcp_service.group_commit): a session
# dependency per request added thread hops and, with many in flight, a connection each.
@router.get("/a/{token}", dependencies=[Depends(PUBLIC)])
async def answer_form(token: str, request: Request):
    return await _link_page(request, token)


async def _link_page(request: Request, token: str, **form) -> HTMLResponse:
    """The form for a link (with ``form``'s error and values), or why it cannot be shown."""
    try:
        link = await _read_link(request, token)
    except Exception as exc:
        if not is_outage(exc):
            raise
        return _try_again(request)
    return _unusable(link) or _form(request, link, **form)


@router.post("/a/{token}", dependencies=[Depends(PUBLIC)])
async def answer_submit(
    token: str,
    request: Request,
    state: Annotated[str, Form(max_length=20)] = "",
    hours: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    nonce: Annotated[str, Form(max_length=64)] = "",
    power: Annotated[str, Form(max_length=10)] = "",
    hours_unknown: Annotated[str, Form(max_length=5)] = "",
    needs_transport: Annotated[str, Form(max_length=5)] = "",
    needs_admission: Annotated[str, Form(max_length=5)] = "",
    evacuated_to: Annotated[str, Form(max_length=200)] = "",
    place: Annotated[str, Form(max_length=200)] = "",
):
    error = None
    hours_left = None
    plan = None
    if state.startswith("plan_"):
        plan, state = state.removeprefix("plan_"), "safe"
        if plan not in PLANS:
            state = ""
    if state not in VALID_STATES:
        error = "ボタンを1つ選んでください。"
    elif power not in ("", "on", "out", "unknown"):
        error = "電気の状態を選び直してください。"
    else:
        try:
            hours_left = parse_hours(hours)
        except ValueError:
            if state == "power_out":  # the hours matter only with this answer; otherwise they are not kept
                error = "残り時間は 0〜720 の数字で入力してください（例: 3 または 2.5）。わからなければ空欄か「わからない」で構いません。"
    if error is not None:
        form = {
            "hours": hours,
            "note": note,
            "power": power,
            "hours_unknown": bool(hours_unknown),
            "needs_transport": bool(needs_transport),
            "needs_admission": bool(needs_admission),
            "evacuated_to": evacuated_to,
        }
        return await _link_page(request, token, status_code=422, error=error, form=form)
    # Every field is kept whatever the button: hours typed with a transport request are not dropped.
    answer = LinkAnswer(
        token=token,
        state=state,
        hours_left=hours_left,
        note=note.strip()[:1000] or None,
        nonce=nonce or secrets.token_urlsafe(12),
        power=power or None,
        hours_unknown=bool(hours_unknown) and hours_left is None,
        needs_transport=bool(needs_transport),
        needs_admission=bool(needs_admission),
        evacuated_to=evacuated_to.strip()[:200] or None,
        plan=plan,
        place=(place.strip()[:200] or None) if plan in ("shelter", "relative", "hospital") else None,
    )
    try:
        outcome = await writer(request.app, "answer-link", record_link_answers, around=counters.deferred).submit(answer)
    except Exception as exc:
        if not is_outage(exc):
            raise
        kept = {
            "power": power,
            "hours_unknown": hours_unknown,
            "needs_transport": needs_transport,
            "needs_admission": needs_admission,
            "evacuated_to": evacuated_to,
            "place": place,
        }
        urgent = state in states.NEEDING or answer.needs_transport or answer.needs_admission
        return _try_again(
            request,
            state=f"plan_{plan}" if plan else state,
            hours=hours,
            note=note,
            nonce=answer.nonce,
            kept=kept,
            urgent=urgent,
            clinic=await _clinic_if_readable(request, token) if urgent else None,
        )
    if outcome.kind == "missing":
        return _unusable(None)
    if outcome.kind == "expired":
        return _gone_round(outcome.drill)
    label = PLANS[plan] if plan else STATE_LABELS[state]
    return _page(
        "thanks",
        drill=outcome.drill,
        state=state,
        state_label=label,
        hours=hours_left,
        hours_unknown=answer.hours_unknown,
        needing=state in states.NEEDING or answer.needs_transport or answer.needs_admission,
        action=request.url.path,
    )


# What people type when they do not know: recorded as "unknown" (no hours), never refused.
UNKNOWN_HOURS = {
    "わからない",
    "分からない",
    "わかりません",
    "分かりません",
    "わからん",
    "不明",
    "?",
    "unknown",
    "不明です",
}


def parse_hours(text: str) -> float | None:
    """Hours as people type them on a phone: full-width digits, "3時間", "2.5"; 「わからない」 = unknown (None)."""
    value = unicodedata.normalize("NFKC", text or "").strip().removesuffix("時間").strip()
    if not value or value.lower() in UNKNOWN_HOURS:
        return None
    hours = float(value)
    if not 0 <= hours <= 720:
        raise ValueError("out of range")
    return round(hours, 2)
