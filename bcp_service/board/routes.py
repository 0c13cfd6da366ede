"""Status board pages: the round list, the live board, its event stream, the print view and CSV.

Pages read through board.service; identities are shown only to identified roles, in their scope.
Audit: the first page, the print view and the people CSVs record the patient ids they show; the
live stream records one event when it is opened (who watches which round, through which filters)
and not one per push, which would flood the log with the same people every second. A stream ends
after ``board_stream_max_seconds`` and the reconnect is audited again, so the log brackets the time
a person watched identities. See README "Status board and nurse pages".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from sqlmodel import Session

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access, still_signed_in
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.board import render, service
from bcp_service.board.counts import ViewSpec
from bcp_service.board.live_view import BoardView
from bcp_service.board.schemas import STATE_LABELS, BoardFilters
from bcp_service.clock import aware  # SQLite gives naive UTC: not the machine's local time
from bcp_service.csv_export import csv_lines
from bcp_service.db import SessionDep
from bcp_service.errors import NotFound
from bcp_service.escalation import oncall
from bcp_service.escalation.policy import tier_policies
from bcp_service.heartbeat import read_system_status
from bcp_service.labels import ESCALATION_ACTION_LABELS, THERAPY_LABELS, TIER_LABELS
from bcp_service.live import sse
from bcp_service.ops.status import count_throttled
from bcp_service.page_helpers import page, register_home_link
from bcp_service.rounds import incidents
from bcp_service.rounds.restored import latest_restore
from bcp_service.rounds.service import label
from bcp_service.rounds.visibility import visible_round

router = APIRouter(prefix="/board", include_in_schema=False)
VIEWERS = (Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse, Role.aggregate)
Viewer = Annotated[Principal, Depends(Access(*VIEWERS))]

register_home_link("/board", "安否確認ボード", "回答状況・優先対応リスト・未回答者をリアルタイム表示", VIEWERS)


def board_filters(region_id: str = "", hub_id: str = "", therapy: str = "", risk_tier: str = "") -> BoardFilters:
    return service.parse_filters(region_id, hub_id, therapy, risk_tier)


Filters = Annotated[BoardFilters, Depends(board_filters)]


HEADERS = {
    "Cache-Control": "no-store",
    # Everything comes from the service itself; inline styles only for the widths of the bars.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


def spec_for(request: Request, round_id: int, principal: Principal, filters: BoardFilters) -> ViewSpec:
    return ViewSpec.of(round_id, principal, filters, request.app.state.settings.aggregate_min_cell)


def _audit_view(
    session: Session, request: Request, principal: Principal, view: BoardView, action: str, also: list[int] = ()
) -> None:
    if view.spec.sees_identities:
        shown = list(dict.fromkeys([*view.shown_patient_ids, *also]))
        audit(
            session=session,
            principal=principal,
            action=action,
            request=request,
            patient_ids=shown,
            detail=f"round {view.spec.round_id} {view.spec.filters.query()}",
        )


@router.get("")
def board_index(request: Request, principal: Viewer, session: SessionDep):
    rounds = service.list_board_rounds(session=session, principal=principal)
    min_cell = request.app.state.settings.aggregate_min_cell if principal.role == Role.aggregate else 0
    return page(
        "board/index.html",
        principal,
        rounds=rounds,
        label=label,
        system=_system(session, request),
        min_cell=min_cell,
        oncall_pages=_oncall_pages(session, request, principal),
    )


def _oncall_pages(session: Session, request: Request, principal: Principal) -> list[oncall.PageBanner]:
    """oncall (issue 25.4): the unreachable critical patients this station or hub was paged for (names read: audited)."""
    banners = oncall.banners_for(session=session, principal=principal)
    if banners:
        audit(
            session=session,
            principal=principal,
            action="oncall.banner",
            request=request,
            patient_ids=oncall.banner_patient_ids(banners),
        )
    return banners


def _system(session: Session, request: Request):
    status = read_system_status(session=session, stale_after_seconds=request.app.state.settings.heartbeat_stale_seconds)
    status.throttled_messages = count_throttled(
        session, now=status.checked_at
    )  # issue 28.2: 429s shown, not "all well"
    return status


@router.get("/rounds/{round_id}")
def board_page(round_id: int, request: Request, principal: Viewer, session: SessionDep, filters: Filters):
    safety_round = visible_round(session=session, principal=principal, round_id=round_id)
    settings = request.app.state.settings
    spec = spec_for(request, round_id, principal, filters)
    view, source = service.build_view(session=session, spec=spec, settings=settings)
    plans = service.planned_stays(
        session=session, spec=spec, names=source.names, safety_round=safety_round, limit=settings.board_list_limit
    )
    _audit_view(session, request, principal, view, "board.view", also=[r.patient_id for r in plans or ()])
    query = filters.query()
    response = page(
        "board/round.html",
        principal,
        round=safety_round,
        label=label(safety_round.drill),
        view=view,
        system=_system(session, request),
        escalation=escalation_rows(safety_round, settings),
        restore=latest_restore(session, round_id),  # ops: restored from a backup
        oncall_pages=_oncall_pages(session, request, principal),  # oncall (issue 25.4)
        names=source.names,
        filters=filters,
        therapy_labels=THERAPY_LABELS,
        tier_labels=TIER_LABELS,
        state_labels=STATE_LABELS,
        query=("?" + urlencode(query)) if query else "",
        plans=render.plans_html(plans, settings.board_list_limit) if plans is not None else None,
        incident=incidents.incident_view(session=session, safety_round=safety_round),  # incid (issue 25.1)
        boot=json.dumps(
            {
                "events": f"/board/rounds/{round_id}/events" + (("?" + urlencode(query)) if query else ""),
                "series": view.series,
                "total": view.counts.total if view.counts else 0,
                "started": int(aware(safety_round.started_at).timestamp() * 1000),
                "tz": settings.timezone,
            },
            ensure_ascii=False,
        ),
    )
    response.headers.update(HEADERS)
    return response


def escalation_rows(safety_round, settings) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per risk tier: (tier label, [(after N 分, action)]), for the round page (docs/escalation.md)."""
    try:
        policies = tier_policies(safety_round.escalation_policy, settings, safety_round.kind)
    except ValueError:
        return []
    return [
        (
            TIER_LABELS.get(tier, "全員") if tier else "全員（この確認の設定）",
            [
                (f"{step.after_minutes:g}分", ESCALATION_ACTION_LABELS.get(step.action.value, step.action.value))
                for step in p.steps
            ],
        )
        for tier, p in policies.items()
    ]


def _open_stream(
    session: Session, request: Request, principal: Principal, round_id: int, filters: BoardFilters
) -> None:
    visible_round(session=session, principal=principal, round_id=round_id)
    if principal.sees_identities:
        audit(
            session=session,
            principal=principal,
            action="board.live.subscribe",
            request=request,
            detail=f"round {round_id} {filters.query()}",
        )
    # Commit now and hand the connection back: the stream lives for minutes and must not hold one.
    session.commit()


@router.get("/rounds/{round_id}/events")
async def board_events(round_id: int, request: Request, principal: Viewer, session: SessionDep, filters: Filters):
    await run_in_threadpool(_open_stream, session, request, principal, round_id, filters)
    settings = request.app.state.settings
    spec = spec_for(request, round_id, principal, filters)
    hub = service.live_hub(request.app)
    subscriber = await hub.subscribe(round_id, spec, lambda: BoardView(spec, settings))

    async def alive() -> bool:  # issue 23.2: a dead token or session ends the stream within seconds
        return await run_in_threadpool(still_signed_in, request, principal)

    return StreamingResponse(
        sse.stream(
            hub,
            subscriber,
            keepalive=settings.board_keepalive_seconds,
            max_seconds=settings.board_stream_max_seconds,
            alive=alive,
            check_every=settings.credential_check_seconds,
        ),
        media_type="text/event-stream",
        headers=sse.HEADERS,
    )


@router.get("/rounds/{round_id}/print")
def board_print(round_id: int, request: Request, principal: Viewer, session: SessionDep, filters: Filters):
    safety_round = visible_round(session=session, principal=principal, round_id=round_id)
    settings = request.app.state.settings
    view, source = service.build_view(
        session=session,
        spec=spec_for(request, round_id, principal, filters),
        settings=settings,
        list_limit=settings.board_print_limit,
    )
    _audit_view(session, request, principal, view, "board.print")
    response = page(
        "board/print.html",
        principal,
        round=safety_round,
        label=label(safety_round.drill),
        view=view,
        names=source.names,
        filters=filters,
        therapy_labels=THERAPY_LABELS,
        tier_labels=TIER_LABELS,
        printed_at=datetime.now(settings.tz),
    )
    response.headers.update(HEADERS)
    return response


@router.get("/rounds/{round_id}/export.csv")
def board_csv(
    round_id: int, request: Request, principal: Viewer, session: SessionDep, filters: Filters, kind: str = "areas"
):
    """areas: counts by region, municipality and hub (every viewer); priority / silent / plans (planned stays):
    people (identified roles)."""
    visible_round(session=session, principal=principal, round_id=round_id)
    settings = request.app.state.settings
    spec = spec_for(request, round_id, principal, filters)
    if kind == "areas":
        view, _ = service.build_view(session=session, spec=spec, settings=settings, list_limit=1)
        header, rows = service.area_csv_header(), list(service.area_csv_rows(view.counts))
    elif kind in service.PEOPLE_KINDS and spec.sees_identities:
        header = service.PEOPLE_HEADER
        rows, patient_ids = service.people_csv(session=session, spec=spec, settings=settings, kind=kind)
        audit(
            session=session,
            principal=principal,
            action=f"board.export.{kind}",
            request=request,
            patient_ids=patient_ids,
            detail=f"round {round_id} {filters.query()}",
        )
    else:
        raise NotFound("この一覧はありません (no such export)")
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M")
    return Response(
        "".join(csv_lines(header, rows)).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="round-{round_id}-{kind}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
