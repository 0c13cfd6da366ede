"""Outages posted by a source: stored, shown on the board, ordering the lists, and the round rule."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from bcp_service.auth.roles import Role
from bcp_service.board.counts import AreaNames, ViewSpec
from bcp_service.board.lists import non_responders, priority_list
from bcp_service.board.schemas import BoardFilters
from bcp_service.models import PowerOutage, SafetyCheck
from bcp_service.outages.service import power_out_municipality_ids
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.board.builders import record
from tests.factories import create_municipality, create_patient, create_prefecture
from tests.triggers.dbsetup import clock, records, rounds, run_starts, system  # noqa: F401 (fixtures)

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 9, 9, 3, 0, tzinfo=JST)
_phones = itertools.count(70_000_000)


def ventilator(session, municipality, **overrides):
    return create_patient(
        session,
        municipality,
        phones=[f"+8170{next(_phones)}"],
        uses_ventilator=True,
        ventilator_mode="invasive",
        uses_oxygen=False,
        internal_battery_hours=6,
        external_battery_hours=6,
        **overrides,
    )


@pytest.fixture
def towns(session):
    prefecture = create_prefecture(session)
    return create_municipality(session, prefecture, name="海辺町"), create_municipality(
        session, prefecture, name="山辺市"
    )


def outage(municipality, *, hours: float | None = 6, restored: bool = False, ident: str = "o-1") -> dict:
    item = {
        "id": ident,
        "municipality": municipality.code,
        "district": "一丁目",
        "started_at": NOW.isoformat(),
        "households": 1200,
    }
    if hours is not None:
        item["expected_restoration_at"] = (NOW + timedelta(hours=hours)).isoformat()
    if restored:
        item["restored_at"] = (NOW + timedelta(hours=1)).isoformat()
    return item


def test_outage_raises_ventilator_users_there_to_the_top_of_the_board(system, session, settings, towns, clock):
    coast, hills = towns
    answered_hills = ventilator(session, hills, name="山 回答")
    answered_coast = ventilator(session, coast, name="海 回答")
    silent_hills = ventilator(session, hills, name="山 未回答")
    silent_coast = ventilator(session, coast, name="海 未回答")
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        reason="manual",
        drill=False,
        target=RoundTarget(municipality_ids=[coast.id, hills.id]),
        title="台風",
    )
    checks = {c.patient_id: c for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id))}
    record(session, checks[answered_hills.id], "needs_help", hours=2)
    record(session, checks[answered_coast.id], "needs_help", hours=10)
    spec = ViewSpec(safety_round.id, Role.admin, None, 0, BoardFilters())

    def order():
        return (
            [r.patient_id for r in priority_list(session, spec, AreaNames(), 10)],
            [r.patient_id for r in non_responders(session, spec, AreaNames(), 10)],
        )

    assert order()[0] == [answered_hills.id, answered_coast.id]  # fewest hours first
    clock.now = NOW
    response = system.post("/api/v1/outages", json={"source": "tepco-pg", "outages": [outage(coast)]})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["power_out_municipalities"] == [coast.code] and summary["ventilator_users_affected"] == 2
    assert power_out_municipality_ids(session=session) == {coast.id}
    priority, silent = order()
    # Hours to harm lead (rounds.triage): 2 h in the hills before 10 h in the dark; among the
    # not-heard-from (all at zero hours: unknown counts as zero) the outage breaks the tie.
    assert priority == [answered_hills.id, answered_coast.id]
    assert silent[0] == silent_coast.id and silent_hills.id in silent

    restored = system.post("/api/v1/outages", json={"source": "tepco-pg", "outages": [outage(coast, restored=True)]})
    assert restored.json()["restored"] == 1 and restored.json()["power_out_municipalities"] == []
    assert order()[0] == [answered_hills.id, answered_coast.id]


def test_long_outage_with_ventilator_users_starts_a_round_by_rule(system, session, settings, towns, clock):
    coast, hills = towns
    ventilator(session, coast)
    create_patient(session, hills, phones=[f"+8170{next(_phones)}"])  # oxygen only
    clock.now = NOW
    short = system.post("/api/v1/outages", json={"source": "kepco", "outages": [outage(coast, hours=1)]}).json()
    assert [(d["action"], d["reason"]) for d in short["decisions"]] == [("ignore", "below_threshold")]
    longer = system.post(
        "/api/v1/outages",
        json={"source": "kepco", "outages": [outage(coast, hours=5), outage(hills, hours=8, ident="o-2")]},
    ).json()
    (decision,) = longer["decisions"]
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["municipalities"] == [coast.code]  # no ventilator user in hills
    assert "長時間停電" in decision["reason_ja"]
    again = system.post(
        "/api/v1/outages",
        json={"source": "kepco", "outages": [outage(coast, hours=5), outage(hills, hours=8, ident="o-2")]},
    ).json()
    assert again["stored"] == 0 and again["decisions"][0]["reason"] == "duplicate_event"
    (round_id,) = run_starts(session, settings, NOW + timedelta(minutes=4))
    assert len(rounds(session)) == 1 and rounds(session)[0].id == round_id


def test_csv_outages_and_bad_input(system, session, towns, clock):
    coast, _ = towns
    clock.now = NOW
    csv_body = (
        "id,municipality,district,started_at,expected_restoration_at,households\n"
        f"c-1,{coast.code[:5]},二丁目,2026-09-09T03:00:00+09:00,2026-09-09T05:00:00+09:00,300\n"
        "c-2,131016,,2026-09-09T03:00:00+09:00,,\n"
    )
    response = system.post(
        "/api/v1/outages?source=chubu", content=csv_body.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1 and response.json()["unmatched_municipalities"] == ["131016"]
    (row,) = session.exec(select(PowerOutage).where(PowerOutage.source == "chubu")).all()
    assert row.district == "二丁目" and row.households == 300

    no_source = system.post("/api/v1/outages", content=csv_body.encode(), headers={"Content-Type": "text/csv"})
    assert no_source.status_code == 422
    bad_header = system.post(
        "/api/v1/outages?source=x", content=b"town,when\n1,2\n", headers={"Content-Type": "text/csv"}
    )
    assert bad_header.status_code == 422 and "header" in bad_header.text
    backwards = system.post(
        "/api/v1/outages",
        json={
            "source": "x",
            "outages": [{**outage(coast), "expected_restoration_at": (NOW - timedelta(hours=1)).isoformat()}],
        },
    )
    assert backwards.status_code == 422 and "before started_at" in backwards.text
    bad_code = system.post(
        "/api/v1/outages", json={"source": "x", "outages": [{**outage(coast), "municipality": "12101"[:4]}]}
    )
    assert bad_code.status_code == 422
    assert system.post("/api/v1/outages", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_staff_list_open_outages(system, client_as, towns, clock):
    coast, _ = towns
    clock.now = NOW
    system.post("/api/v1/outages", json={"source": "tepco-pg", "outages": [outage(coast)]})
    listed = client_as("prefecture", 1).get("/api/v1/outages")
    assert listed.status_code == 200
    (item,) = listed.json()
    assert item["municipality_name"] == "海辺町" and item["households"] == 1200
    assert client_as("nurse", 1).get("/api/v1/outages").status_code == 403


def test_board_grid_marks_the_municipality_without_power(client, session, settings, towns, system, clock):
    coast, hills = towns
    ventilator(session, coast)
    ventilator(session, hills)
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        reason="manual",
        drill=False,
        target=RoundTarget(municipality_ids=[coast.id, hills.id]),
        title="台風",
    )
    clock.now = NOW
    system.post("/api/v1/outages", json={"source": "tepco-pg", "outages": [outage(coast)]})
    page = client.get(f"/board/rounds/{safety_round.id}")
    assert page.status_code == 200
    grid = page.text.split('class="area-grid"', 1)[1].split("grid-legend", 1)[0]
    assert "tile-power-out" in grid and "海辺町（停電中）" in grid and "山辺市（停電中）" not in grid
