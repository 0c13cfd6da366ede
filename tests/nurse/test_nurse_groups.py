"""The nurse page groups its rows by incident, else by round, never mixing a drill with a real round (issue 27.7)."""

from __future__ import annotations

from bcp_service.nurse.schemas import NurseRow
from bcp_service.nurse.service import group_rows


def row(check_id: int, round_id: int, *, drill: bool = False, incident_id: int | None = None, rounds=()) -> NurseRow:
    return NurseRow(
        check_id=check_id,
        round_id=round_id,
        round_title=f"安否確認 #{round_id}",
        drill=drill,
        patient_id=check_id,
        name=f"患者{check_id}",
        name_kana=None,
        address=None,
        device="酸素",
        risk_tier="high",
        state="no_answer",
        hours_left=None,
        expected_hours=None,
        last_answer_at=None,
        last_channel=None,
        contacts=(),
        incident_id=incident_id,
        rounds=tuple(rounds),
    )


def test_groups_keep_the_list_order_and_name_every_round_of_an_incident():
    quake, tsunami = (1, "地震", False), (2, "津波", False)
    rows = [
        row(10, 1, incident_id=7, rounds=[quake, tsunami]),
        row(11, 3, drill=True),
        row(12, 2, incident_id=7, rounds=[tsunami]),
        row(13, 4),
        row(14, 3, drill=True),
    ]
    groups = group_rows(rows)
    assert [g.key for g in groups] == ["i7", "r3", "r4"]
    assert [r.check_id for r in groups[0].rows] == [10, 12] and groups[0].heading == "地震・津波"
    assert groups[1].drill and [r.check_id for r in groups[1].rows] == [11, 14]
    assert not groups[2].drill and groups[2].heading == "安否確認 #4"
