"""Reading a board for a request: the round list, a view built in the request's session, CSV rows."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal
from bcp_service.board import lists
from bcp_service.board.counts import ViewSpec
from bcp_service.board.live_view import BoardView, RoundSource
from bcp_service.board.schemas import STATE_LABELS, STATE_ORDER, BoardFilters, Counts
from bcp_service.config import Settings
from bcp_service.labels import CHANNEL_LABELS, TIER_LABELS
from bcp_service.live.hub import LiveHub
from bcp_service.live.signals import listener_factory
from bcp_service.models import SafetyRound
from bcp_service.models.rounds import RoundState
from bcp_service.rounds import incidents
from bcp_service.rounds.visibility import round_conditions
from bcp_service.templating import jst


def live_hub(app: FastAPI) -> LiveHub:
    """The process's hub, made on first use (it binds to the running event loop when it subscribes)."""
    hub = getattr(app.state, "live", None)
    if hub is None:
        hub = app.state.live = LiveHub(
            session_factory=app.state.read_session_factory,
            settings=app.state.settings,
            source_factory=RoundSource,
            listener_factory=listener_factory(app.state.engine),
        )
    return hub


def list_board_rounds(*, session: Session, principal: Principal, limit: int = 30) -> list[SafetyRound]:
    """Running rounds first, then the most recent closed ones; only those the viewer may see."""
    visible = round_conditions(principal)
    running = session.exec(
        select(SafetyRound)
        .where(SafetyRound.state == RoundState.running, *visible)
        .order_by(col(SafetyRound.id).desc())
        .limit(limit)
    ).all()
    closed = session.exec(
        select(SafetyRound)
        .where(SafetyRound.state != RoundState.running, *visible)
        .order_by(col(SafetyRound.id).desc())
        .limit(limit)
    ).all()
    return [*running, *closed][:limit]


def build_view(
    *, session: Session, spec: ViewSpec, settings: Settings, list_limit: int | None = None
) -> tuple[BoardView, RoundSource]:
    source = RoundSource(spec.round_id)
    view = BoardView(spec, settings, list_limit=list_limit)
    view.load(session, source.read(session, advance=False))
    return view, source


def area_csv_rows(counts: Counts) -> Iterator[list]:
    states = [s.value for s in STATE_ORDER]
    for label, rows in (("在宅医療圏", counts.regions), ("市町村", counts.municipalities), ("連携拠点", counts.hubs)):
        for row in rows:
            if row.suppressed:
                yield [label, row.name, "*", *["*" for _ in states], ""]
                continue
            cells = ["*" if row.counts.get(s, 0) is None else row.counts.get(s, 0) for s in states]
            rate = f"{100 * row.rate:.1f}" if row.rate is not None else ""
            yield [label, row.name, row.total, *cells, rate]


def area_csv_header() -> list[str]:
    return ["区分", "名称", "対象", *[STATE_LABELS[s.value] for s in STATE_ORDER], "回答率(%)"]


PEOPLE_HEADER = [
    "氏名",
    "状態",
    "残り時間(回答)",
    "残り時間(登録の目安)",
    "害までの推定時間",
    "返信あり・要確認",
    "機器",
    "リスク",
    "市町村",
    "最終回答",
    "経路",
    "電話",
    "住所",
    "積極的医療機関",
    "訪問看護ステーション",
    "メモ",
    "滞在予定",
    "滞在予定の回答",
    "同じ災害の安否確認",
]  # incid: the rounds of the incident the person is in (docs/incidents.md)
# priority: who needs someone; silent: not heard from; plans: where people said they will stay.
PEOPLE_KINDS = {"priority": lists.priority_list, "silent": lists.non_responders, "plans": lists.planned_stays}


def people_csv(*, session: Session, spec: ViewSpec, settings: Settings, kind: str) -> tuple[list[list], list[int]]:
    _view, source = build_view(session=session, spec=spec, settings=settings)
    names = source.names
    limit = settings.board_print_limit
    rows = PEOPLE_KINDS[kind](session, spec, names, limit)
    rounds = incidents.rounds_of_patients(session, round_id=spec.round_id, patient_ids=[r.patient_id for r in rows])
    out = [
        [
            r.name,
            STATE_LABELS.get(r.state, r.state),
            "" if r.hours_left is None else r.hours_left,
            "" if r.expected_hours is None else r.expected_hours,
            "" if r.harm_hours is None else r.harm_hours,
            r.review_text or "",
            r.device,
            TIER_LABELS.get(r.risk_tier, r.risk_tier),
            r.municipality,
            jst(r.last_answer_at),
            CHANNEL_LABELS.get(r.last_channel or "", r.last_channel or ""),
            r.phone or "",
            r.address or "",
            r.active_institution or "",
            r.nurse_station or "",
            r.note or "",
            r.planned_stay,
            jst(r.planned_stay_at),
            " ".join(f"#{i}" for i in rounds.get(r.patient_id, ())),
        ]
        for r in rows
    ]
    return out, [r.patient_id for r in rows]


def planned_stays(*, session: Session, spec: ViewSpec, names, safety_round: SafetyRound, limit: int) -> list | None:
    """The planned-stay list a notice round's board shows (None: not this round, or not this viewer)."""
    if safety_round.kind != "advance_notice" or not spec.sees_identities:
        return None
    return lists.planned_stays(session, spec, names, limit)


def parse_filters(region_id: str, hub_id: str, therapy: str, risk_tier: str) -> BoardFilters:
    """Lenient: the filter form sends "" for "all", and a stale link must not break the board."""
    from bcp_service.models.enums import RiskTier, Therapy

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return BoardFilters(
        region_id=number(region_id),
        hub_id=number(hub_id),
        therapy=Therapy(therapy) if therapy in Therapy.__members__ else None,
        risk_tier=RiskTier(risk_tier) if risk_tier in RiskTier.__members__ else None,
    )
