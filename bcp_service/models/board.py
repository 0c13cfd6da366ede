"""Indexes the live board reads the rounds tables through (created by alembic 0006).

Declared here rather than on the rounds tables themselves so the rounds models stay as their
package defines them; an ``Index`` built from a table's columns belongs to that table's metadata.
"""

from __future__ import annotations

from sqlalchemy import Index, text

from bcp_service import check_states as states
from bcp_service.models.rounds import CheckAnswer, SafetyCheck

NEEDING = text(states.sql_in(states.NEEDING))
SILENT = text(states.sql_in(states.SILENT))

BOARD_INDEXES = (
    # The priority list and the non-responders: the top 50 of a round without sorting all of it.
    Index(
        "ix_safety_check_board_needing",
        SafetyCheck.round_id,
        SafetyCheck.hours_left,
        postgresql_where=NEEDING,
        sqlite_where=NEEDING,
    ),
    Index(
        "ix_safety_check_board_silent",
        SafetyCheck.round_id,
        SafetyCheck.risk_tier,
        SafetyCheck.id,
        postgresql_where=SILENT,
        sqlite_where=SILENT,
    ),
    # Counts of one region, municipality or hub (or a prefecture's or hub's scope) within a round.
    Index("ix_safety_check_board_region", SafetyCheck.round_id, SafetyCheck.region_id),
    Index("ix_safety_check_board_municipality", SafetyCheck.round_id, SafetyCheck.municipality_id),
    Index("ix_safety_check_board_hub", SafetyCheck.round_id, SafetyCheck.hub_id),
    # The feed and the answer-rate chart of a round.
    Index("ix_check_answer_round", CheckAnswer.round_id, CheckAnswer.id),
)
