"""A round's page: progress, escalation timeline and the nurse queue.

It shows both rounds and escalation, so it lives above both (docs/architecture.md): ``rounds`` must not
import ``escalation``. The rest of the round pages are in rounds/pages.py; this router is included
right after theirs (web/page_routers.py), so ``/rounds/new`` still matches before ``/rounds/{round_id}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from bcp_service.auth.roles import Role
from bcp_service.check_states import LABELS as STATE_LABELS
from bcp_service.db import SessionDep
from bcp_service.escalation.routes import get_round_escalation
from bcp_service.labels import ESCALATION_ACTION_LABELS, TIER_LABELS
from bcp_service.models.rounds import STATE_ORDER, RoundState
from bcp_service.page_helpers import page
from bcp_service.rounds import incidents, visibility
from bcp_service.rounds.pages import (
    MESSAGE_STATE_LABELS,
    STARTERS,
    CountReader,
    join_choices,
    shown_round,
    target_describer,
)
from bcp_service.rounds.restored import latest_restore
from bcp_service.rounds.service import Actor, close_effects, label, may_close
from bcp_service.rounds.summary import summarise_round
from bcp_service.rounds.timeline import round_timeline

router = APIRouter(prefix="/rounds", include_in_schema=False)


@router.get("/{round_id}")
def round_page(
    round_id: int,
    request: Request,
    principal: CountReader,
    session: SessionDep,
    started: str = "",
    closed: str = "",
    unconfirmed: str = "",
    joined: str = "",
    join_error: str = "",
):
    """Progress (counts only, so every role that may count sees it), escalation timeline and the nurse queue."""
    safety_round = visibility.visible_round(session=session, principal=principal, round_id=round_id)
    min_cell = request.app.state.settings.aggregate_min_cell if principal.role == Role.aggregate else 0
    summary = summarise_round(
        session=session, safety_round=safety_round, min_cell=min_cell, scope=visibility.count_scope(principal)
    )
    escalation = get_round_escalation(round_id, request, principal, session)
    closable = (
        principal.role in STARTERS
        and safety_round.state == RoundState.running
        and may_close(Actor.from_principal(principal), safety_round)
    )
    return page(
        "rounds/detail.html",
        principal,
        round=shown_round(request, principal, safety_round),
        label=label(safety_round.drill),
        summary=summary,
        escalation=escalation,
        timeline=round_timeline(session=session, round_id=round_id),
        closable=closable,
        describe=target_describer(session),
        state_order=STATE_ORDER,
        state_labels=STATE_LABELS,
        tier_labels=TIER_LABELS,
        action_labels=ESCALATION_ACTION_LABELS,
        message_labels=MESSAGE_STATE_LABELS,
        started=bool(started),
        closed=bool(closed),
        # incid: the incident, joining one by hand, the contact budget, what closing stops (issues 25.1, 27.7)
        incident=incidents.incident_view(session=session, safety_round=safety_round),
        join_choices=join_choices(session=session, principal=principal, safety_round=safety_round) if closable else [],
        close_effects=close_effects(session=session, round_id=round_id) if closable else None,
        budget=incidents.contact_budget(session=session, round_id=round_id, settings=request.app.state.settings),
        unconfirmed=bool(unconfirmed),
        joined=bool(joined),
        join_error=bool(join_error),
        restore=latest_restore(session, round_id),
    )  # ops: restored from a backup
