"""HTML of the board's sections, from the one Jinja environment: the first page and every live update
use the same macros (templates/board/sections.html), so what streams in looks like what loaded."""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup

from bcp_service.board.schemas import NEEDING, POWER_LABELS, STATE_LABELS, STATE_ORDER, Counts, FeedRow, PersonRow
from bcp_service.labels import ANSWERED_BY_LABELS, CHANNEL_LABELS, TIER_LABELS
from bcp_service.rounds.triage import RULE_TEXT
from bcp_service.templating import environment

LABELS = {
    "state_labels": STATE_LABELS,
    "state_order": [s.value for s in STATE_ORDER],
    "tier_labels": TIER_LABELS,
    "channel_labels": CHANNEL_LABELS,
    "answered_by_labels": ANSWERED_BY_LABELS,
    "power_labels": POWER_LABELS,
    "needing_labels": "・".join(STATE_LABELS[s] for s in NEEDING),
    "triage_rule": RULE_TEXT,
}


@lru_cache
def macros():
    return environment().get_template("board/sections.html").make_module(vars=LABELS)


def counts_html(counts: Counts, drill: bool) -> Markup:
    return macros().counts_section(counts, drill)


def areas_html(counts: Counts) -> Markup:
    return macros().areas_section(counts)


def grid_html(counts: Counts, power_out: frozenset[str] = frozenset()) -> Markup:
    """``power_out``: municipality keys with an open outage (outages.service), marked on their tiles."""
    return macros().grid_section(counts, power_out)


def priority_html(rows: list[PersonRow], total: int, limit: int) -> Markup:
    return macros().priority_section(rows, total, limit)


def silent_html(rows: list[PersonRow], total: int, limit: int) -> Markup:
    return macros().silent_section(rows, total, limit)


def plans_html(rows: list[PersonRow], limit: int) -> Markup:
    return macros().plans_section(rows, limit)


def total_html(n: int) -> Markup:
    return macros().total(n)


def feed_item_html(row: FeedRow) -> Markup:
    return macros().feed_item(row)
