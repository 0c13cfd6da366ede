"""Round pages: the list, starting one (with a preview of what it will send), a round's progress and
escalation (its page: escalation/pages.py, above both), closing it. Same Access rules, services and audit as the API routes in rounds/routes.py.

Forms work without JavaScript: the new-round form is a GET that shows the preview under it; the
confirmation posts (with CSRF and an idempotency key made at preview time, so a double tap starts
one round) and redirects to the round.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse
from sqlmodel import Session, select

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import NotFound, ServiceError
from bcp_service.labels import THERAPY_LABELS, TIER_LABELS
from bcp_service.models import HomeCareRegion, Prefecture, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import RoundReason, RoundState
from bcp_service.page_helpers import page, register_home_link
from bcp_service.rounds import incidents, visibility
from bcp_service.rounds.preview import preview_round
from bcp_service.rounds.service import Actor, close_round, label, list_rounds, may_close, start_round
from bcp_service.rounds.target_form import REASON_LABELS, TargetForm, describe_target, target_choices
from bcp_service.rounds.targets import ensure_inside_wall

router = APIRouter(prefix="/rounds", include_in_schema=False)
STARTERS = (Role.admin, Role.prefecture, Role.hub)
Starter = Annotated[Principal, Depends(Access(*STARTERS))]
CountReader = Annotated[
    Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse, Role.aggregate))
]
Many = Annotated[list[str], Query()]
ManyForm = Annotated[list[str], Form()]
DEADLINE_CHOICES = {"24": "24時間", "48": "48時間", "72": "72時間"}
KIND_LABELS = {
    "safety_check": "安否確認（災害の最中・後: 無事か、助けが必要か）",
    "advance_notice": "事前連絡（台風・大雨・計画停電の前: 備えの確認と、災害時に過ごす場所）",
}
MESSAGE_STATE_LABELS = {
    "queued": "送信待ち",
    "sending": "送信中",
    "sent": "送信済み",
    "delivered": "配達済み",
    "failed": "失敗",
    "undelivered": "不達",
    "cancelled": "取消",
}
PAGE_SIZE = 50

register_home_link(
    "/rounds",
    "安否確認の開始・一覧",
    "地域・機器・リスクで対象を選んで開始（訓練／本番）、進み具合、終了",
    (*STARTERS, Role.institution, Role.nurse, Role.aggregate),
)


def area_names(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    regions = dict(session.exec(select(HomeCareRegion.id, HomeCareRegion.name)).all())
    prefectures = dict(session.exec(select(Prefecture.id, Prefecture.name)).all())
    return regions, prefectures


def target_describer(session: Session):
    regions, prefectures = area_names(session)
    return lambda target: describe_target(target, region_names=regions, prefecture_names=prefectures)


def shown_round(request: Request, principal: Principal, safety_round: SafetyRound) -> SimpleNamespace:
    """The round as the API shows it to this caller (no target ids or starter for the aggregate role)."""
    min_cell = request.app.state.settings.aggregate_min_cell
    return SimpleNamespace(**visibility.public_fields(principal, safety_round.model_dump(), min_cell))


@router.get("")
def rounds_page(
    request: Request,
    principal: CountReader,
    session: SessionDep,
    state: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
):
    chosen = RoundState(state) if state in RoundState.__members__ else None
    rows, total = list_rounds(session=session, principal=principal, state=chosen, limit=PAGE_SIZE, offset=offset)
    rows = [shown_round(request, principal, r) for r in rows]
    return page(
        "rounds/list.html",
        principal,
        rows=rows,
        total=total,
        state=state,
        offset=offset,
        page_size=PAGE_SIZE,
        label=label,
        describe=target_describer(session),
        may_start=principal.role in STARTERS,
    )


def _new_page(
    request: Request,
    principal: Principal,
    session: Session,
    form: TargetForm,
    *,
    drill: str,
    reason: str,
    title: str,
    deadline_hours: str,
    want_preview: bool,
    kind: str = "safety_check",
    error: str | None = None,
    status_code: int = 200,
):
    choices = target_choices(session=session, principal=principal)
    preview = None
    if kind not in KIND_LABELS:
        form.errors["kind"] = "安否確認か事前連絡かを選んでください"
    if drill not in ("1", "0"):
        form.errors["drill"] = "訓練か本番かを選んでください"
    if reason not in REASON_LABELS:
        form.errors["reason"] = "安否確認の種類を選んでください"
    if deadline_hours not in DEADLINE_CHOICES:
        form.errors["deadline_hours"] = "締め切りを選んでください"
    if want_preview:
        target = form.to_target(choices)
        if target is not None and not (form.errors.keys() - {"confirm_real"}):
            preview = preview_round(
                session=session,
                actor=Actor.from_principal(principal),
                target=target,
                drill=drill == "1",
                settings=request.app.state.settings,
                kind=kind,
            )
        if form.errors and status_code == 200:
            status_code = 422
    return page(
        "rounds/new.html",
        principal,
        status_code=status_code,
        form=form,
        choices=choices,
        drill=drill,
        reason=reason,
        title=title,
        deadline_hours=deadline_hours,
        preview=preview,
        error=error,
        kind=kind,
        kinds=KIND_LABELS,
        idempotency_key=secrets.token_urlsafe(16),
        reasons=REASON_LABELS,
        deadlines=DEADLINE_CHOICES,
        therapy_labels=THERAPY_LABELS,
        tier_labels=TIER_LABELS,
    )


@router.get("/new")
def new_round_page(
    request: Request,
    principal: Starter,
    session: SessionDep,
    prefecture_id: str = "",
    region_id: Many = (),
    therapy: Many = (),
    risk_tier: Many = (),
    drill: str = "1",
    reason: str = "manual",
    title: str = "",
    deadline_hours: str = "72",
    preview: str = "",
    kind: str = "safety_check",
):
    """The form; with ``preview=1`` it also shows how many people, messages, segments and how long to send."""
    form = TargetForm(
        prefecture_id=prefecture_id, region_ids=list(region_id), therapies=list(therapy), risk_tiers=list(risk_tier)
    )
    return _new_page(
        request,
        principal,
        session,
        form,
        drill=drill,
        reason=reason,
        title=title[:200],
        deadline_hours=deadline_hours,
        want_preview=bool(preview),
        kind=kind[:20],
    )


@router.post("")
def start_round_form(
    request: Request,
    principal: Starter,
    session: SessionDep,
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    prefecture_id: Annotated[str, Form(max_length=20)] = "",
    region_id: ManyForm = (),
    therapy: ManyForm = (),
    risk_tier: ManyForm = (),
    drill: Annotated[str, Form(max_length=1)] = "1",
    reason: Annotated[str, Form(max_length=20)] = "manual",
    title: Annotated[str, Form(max_length=200)] = "",
    deadline_hours: Annotated[str, Form(max_length=4)] = "72",
    confirm_real: Annotated[str, Form(max_length=3)] = "",
    kind: Annotated[str, Form(max_length=20)] = "safety_check",
):
    """Start the round the preview showed (the same service and audit as POST /api/v1/rounds)."""
    form = TargetForm(
        prefecture_id=prefecture_id, region_ids=list(region_id), therapies=list(therapy), risk_tiers=list(risk_tier)
    )
    again = {
        "drill": drill,
        "reason": reason,
        "title": title,
        "deadline_hours": deadline_hours,
        "want_preview": True,
        "kind": kind,
    }
    choices = target_choices(session=session, principal=principal)
    target = form.to_target(choices)
    if (
        target is None
        or drill not in ("1", "0")
        or reason not in REASON_LABELS
        or deadline_hours not in DEADLINE_CHOICES
        or kind not in KIND_LABELS
    ):
        return _new_page(request, principal, session, form, **again)
    if drill == "0" and confirm_real != "yes":
        form.errors["confirm_real"] = "本番の安否確認です。送信してよいか確認の欄にチェックしてください"
        return _new_page(request, principal, session, form, **again, status_code=422)
    try:
        ensure_inside_wall(session, principal, target)  # the choices are the caller's already; the rule is the API's
        safety_round, created = start_round(
            session=session,
            actor=Actor.from_principal(principal),
            target=target,
            reason=RoundReason(reason),
            drill=drill == "1",
            settings=request.app.state.settings,
            title=title.strip() or None,
            deadline=utcnow() + timedelta(hours=int(deadline_hours)),
            idempotency_key=f"page:{idempotency_key}",
            kind=kind,
        )
    except ServiceError as exc:
        session.rollback()  # nothing half-made is committed with the error page
        return _new_page(request, principal, session, form, **again, error=exc.message, status_code=exc.status_code)
    if created:
        audit(
            session=session,
            principal=principal,
            action="round.start",
            request=request,
            detail=f"round {safety_round.id}: {safety_round.target_count} patients, drill={safety_round.drill}",
        )
    return RedirectResponse(f"/rounds/{safety_round.id}?started=1", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{round_id}/close")
def close_round_form(
    round_id: int,
    request: Request,
    principal: Starter,
    session: SessionDep,
    confirm_close: Annotated[str, Form(max_length=3)] = "",
):
    """Close the round (links expire, unsent messages are cancelled): the same rule and audit as the API.

    The page asks first (issue 27.7): without the ticked confirmation, which names what will stop, nothing closes."""
    actor = Actor.from_principal(principal)
    safety_round: SafetyRound = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    if not may_close(actor, safety_round):
        raise NotFound("安否確認が見つかりません (round not found)")
    if confirm_close != "yes":
        return RedirectResponse(f"/rounds/{round_id}?unconfirmed=1#close-form", status_code=status.HTTP_303_SEE_OTHER)
    close_round(session=session, round_id=round_id, actor=actor)
    audit(session=session, principal=principal, action="round.close", request=request, detail=f"round {round_id}")
    return RedirectResponse(f"/rounds/{round_id}?closed=1", status_code=status.HTTP_303_SEE_OTHER)


def join_choices(*, session: Session, principal: Principal, safety_round: SafetyRound) -> list[SafetyRound]:
    """Running rounds of the same kind (real or drill) this caller may close, outside this round's incident."""
    if safety_round.state != RoundState.running:
        return []
    rows, _ = list_rounds(
        session=session, principal=principal, state=RoundState.running, drill=safety_round.drill, limit=PAGE_SIZE
    )
    actor = Actor.from_principal(principal)
    return [
        r
        for r in rows
        if r.id != safety_round.id
        and may_close(actor, r)
        and (r.incident_id is None or r.incident_id != safety_round.incident_id)
    ]


@router.post("/{round_id}/incident")
def join_incident_form(
    round_id: int,
    request: Request,
    principal: Starter,
    session: SessionDep,
    other_round_id: Annotated[str, Form(max_length=12)] = "",
):
    """「同じ災害としてまとめる」: this round and the chosen one share each person's conversation from now on."""
    actor = Actor.from_principal(principal)
    safety_round: SafetyRound = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    if not may_close(actor, safety_round):
        raise NotFound("安否確認が見つかりません (round not found)")
    choices = {r.id for r in join_choices(session=session, principal=principal, safety_round=safety_round)}
    other = int(other_round_id) if other_round_id.isdigit() else None
    if other not in choices:
        return RedirectResponse(f"/rounds/{round_id}?join_error=1#incident", status_code=status.HTTP_303_SEE_OTHER)
    try:
        joined = incidents.join_by_hand(
            session=session, round_id=round_id, other_round_id=other, settings=request.app.state.settings, now=utcnow()
        )
    except ServiceError:
        session.rollback()
        return RedirectResponse(f"/rounds/{round_id}?join_error=1#incident", status_code=status.HTTP_303_SEE_OTHER)
    audit(
        session=session,
        principal=principal,
        action="round.join_incident",
        request=request,
        detail=f"round {round_id} with round {other}: incident {joined.incident_id}, {joined.followed} followed",
    )
    return RedirectResponse(f"/rounds/{round_id}?joined=1#incident", status_code=status.HTTP_303_SEE_OTHER)
