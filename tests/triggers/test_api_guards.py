"""Each guard through the API and the scheduler's trigger job, on the database."""

from __future__ import annotations

from datetime import datetime

import pytest

from bcp_service.models import TriggerReport
from tests.triggers.dbsetup import (  # noqa: F401  (fixtures)
    chiba,
    clock,
    post_bulletin,
    records,
    round_municipality_codes,
    rounds,
    run_starts,
    system,
)
from tests.triggers.helpers import CHIBA, FUNABASHI, ICHIKAWA, INZAI, MATSUDO, NARASHINO, TATEYAMA, at

QUAKE = "20250301101512"
NORTH_WEST = {CHIBA, ICHIKAWA, FUNABASHI, NARASHINO, INZAI}


def test_threshold_met_schedules_a_round_that_starts_after_the_delay(system, session, settings, chiba, clock):
    response = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30))
    assert response.status_code == 200, response.text
    decision = response.json()
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["reason_title"] == "基準に達したため安否確認を予約" and "震度5弱" in decision["reason_ja"]
    assert decision["kind"] == "VXSE51" and decision["source"] == "jma_xml" and decision["status"] == "normal"
    assert set(decision["municipalities"]) == NORTH_WEST
    assert decision["record"]["state"] == "pending"
    assert datetime.fromisoformat(decision["not_before"]) == at(10, 19, 30)  # three minutes later

    assert run_starts(session, settings, at(10, 19, 29)) == []  # still within the delay
    (round_id,) = run_starts(session, settings, at(10, 19, 30))
    (safety_round,) = rounds(session)
    assert safety_round.id == round_id and safety_round.reason == "disaster" and safety_round.drill is False
    assert safety_round.idempotency_key == f"trigger:{QUAKE}:1"
    assert safety_round.started_by_name == "system:trigger"
    assert round_municipality_codes(session, round_id, chiba) == NORTH_WEST
    (record,) = records(session)
    assert (record.state, record.round_id) == ("started", round_id)
    assert run_starts(session, settings, at(10, 30)) == []  # exactly once


@pytest.mark.parametrize(
    ("intensity", "action", "reason"),
    [
        ("4", "ignore", "below_threshold"),
        ("5弱", "schedule_round", "threshold_met"),
    ],
)
def test_threshold_on_a_json_earthquake(system, chiba, clock, intensity, action, reason):
    clock.now = at(10, 20)
    body = {
        "hazard": "earthquake",
        "municipalities": [CHIBA],
        "severity": intensity,
        "occurred_at": "2025-03-01T10:15:00+09:00",
    }
    decision = system.post("/api/v1/triggers", json=body).json()
    assert (decision["action"], decision["reason"]) == (action, reason)
    assert decision["kind"] == "json" and decision["event_id"].startswith("json-")


def test_threshold_is_a_setting(app, system, session, settings, chiba, clock):
    app.state.settings = settings.model_copy(update={"trigger_min_intensity": "6-"})
    decision = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30)).json()
    assert (decision["action"], decision["reason"]) == ("ignore", "below_threshold")
    assert "震度6弱以上" in decision["reason_ja"]


def test_a_municipality_without_patients_starts_nothing(system, chiba, clock):
    clock.now = at(10, 20)
    body = {
        "hazard": "earthquake",
        "municipalities": [MATSUDO],
        "severity": "6-",
        "occurred_at": "2025-03-01T10:15:00+09:00",
    }
    decision = system.post("/api/v1/triggers", json=body).json()
    assert (decision["action"], decision["reason"]) == ("ignore", "no_registered_patients")
    assert decision["record"]["state"] == "ignored"


def test_cancellation_within_the_delay_stops_the_round(system, client, session, settings, chiba, clock):
    post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30))
    assert run_starts(session, settings, at(10, 17)) == []
    cancel = post_bulletin(system, "vxse51_cancel.xml", clock, at(10, 17, 31)).json()
    assert (cancel["action"], cancel["reason"]) == ("cancel_pending", "cancelled_before_send")
    assert cancel["info_type"] == "cancel" and cancel["record"]["state"] == "cancelled"
    assert run_starts(session, settings, at(10, 30)) == []
    assert rounds(session) == []
    listed = client.get("/api/v1/triggers/decisions").json()
    assert [d["reason"] for d in listed["items"]] == ["cancelled_before_send", "threshold_met"]
    assert listed["items"][1]["record"]["state"] == "cancelled"


def test_cancellation_after_the_delay_is_recorded_as_too_late(system, session, settings, chiba, clock):
    post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30))
    run_starts(session, settings, at(10, 19, 30))
    cancel = post_bulletin(system, "vxse51_cancel.xml", clock, at(10, 19, 45)).json()
    assert (cancel["action"], cancel["reason"]) == ("ignore", "cancel_too_late")
    assert [r.state for r in records(session)] == ["started"] and len(rounds(session)) == 1


def test_a_repeated_bulletin_and_its_follow_up_start_one_round(system, session, settings, chiba, clock):
    first = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30)).json()
    again = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 40)).json()
    assert (again["action"], again["reason"]) == ("ignore", "duplicate_event")
    run_starts(session, settings, at(10, 19, 30))
    detail = post_bulletin(system, "vxse53_chiba_cities.xml", clock, at(10, 20, 10)).json()
    assert (detail["action"], detail["reason"]) == ("ignore", "duplicate_event")
    assert run_starts(session, settings, at(10, 40)) == []
    assert len(rounds(session)) == 1 and len(records(session)) == 1
    (record,) = records(session)
    assert record.id == first["record"]["id"]
    assert record.municipality_severity[ICHIKAWA] == 6  # 5+ learnt from the VXSE53
    assert session.query(TriggerReport).count() == 3


def test_aftershocks_weaker_start_nothing_and_stronger_start_a_new_round(system, session, settings, chiba, clock):
    post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30))
    run_starts(session, settings, at(10, 19, 30))
    post_bulletin(system, "vxse53_chiba_cities.xml", clock, at(10, 20, 10))
    post_bulletin(system, "vxse53_correction.xml", clock, at(10, 22, 10))

    weaker = post_bulletin(system, "vxse53_aftershock_weaker.xml", clock, at(11, 21, 10)).json()
    assert (weaker["action"], weaker["reason"]) == ("ignore", "aftershock_not_stronger")
    assert weaker["excluded"][FUNABASHI] == "aftershock_not_stronger"
    assert run_starts(session, settings, at(11, 30)) == []

    stronger = post_bulletin(system, "vxse53_aftershock_stronger.xml", clock, at(12, 15, 10)).json()
    assert (stronger["action"], stronger["reason"]) == ("schedule_round", "stronger_aftershock")
    assert stronger["municipalities"] == [CHIBA, FUNABASHI]
    (second,) = run_starts(session, settings, at(12, 18, 10))
    assert round_municipality_codes(session, second, chiba) == {CHIBA, FUNABASHI}
    assert len(rounds(session)) == 2


def test_drill_and_test_bulletins_start_nothing_by_default(system, session, settings, chiba, clock):
    drill = post_bulletin(system, "vxse51_drill.xml", clock, at(14, 1, 40)).json()
    assert (drill["action"], drill["reason"], drill["drill"]) == ("ignore", "drill_ignored", True)
    test = post_bulletin(system, "vxse51_test.xml", clock, at(15, 1, 40)).json()
    assert (test["action"], test["reason"]) == ("ignore", "test_ignored")
    assert run_starts(session, settings, at(16, 0)) == []
    assert rounds(session) == []


def test_an_accepted_drill_bulletin_starts_a_drill_round(app, system, session, settings, chiba, clock):
    app.state.settings = settings.model_copy(update={"trigger_accept_drill": True})
    drill = post_bulletin(system, "vxse51_drill.xml", clock, at(14, 1, 40)).json()
    assert drill["action"] == "schedule_round" and drill["drill"] is True and drill["reason_ja"].startswith("【訓練】")
    (_round_id,) = run_starts(session, settings, at(14, 5))
    (safety_round,) = rounds(session)
    assert safety_round.drill is True
    # A real quake minutes later is not an aftershock of the drill.
    real = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(14, 6)).json()
    assert (real["action"], real["reason"], real["drill"]) == ("schedule_round", "threshold_met", False)


def test_a_plain_json_event_for_another_hazard(system, session, settings, chiba, clock):
    clock.now = at(18, 0)
    body = {
        "hazard": "typhoon",
        "municipalities": ["12100", TATEYAMA],
        "severity": "避難指示",
        "occurred_at": "2025-03-01T17:50:00+09:00",
        "event_id": "typhoon-2025-05",
        "title": "台風5号",
    }
    decision = system.post("/api/v1/triggers", json=body).json()
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["municipalities"] == [
        CHIBA,
        TATEYAMA,
    ]  # "12100" gained its check digit and "警戒レベル4" in decision["reason_ja"]
    repeat = system.post("/api/v1/triggers", json=body).json()
    assert repeat["reason"] == "duplicate_event"
    cancel = system.post("/api/v1/triggers", json={**body, "info_type": "cancel"}).json()
    assert cancel["reason"] == "cancelled_before_send"
    assert run_starts(session, settings, at(19, 0)) == []


def test_a_person_can_stop_a_pending_start(system, client, client_as, session, settings, chiba, clock):
    decision = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30)).json()
    record_id = decision["record"]["id"]
    pending = client.get("/api/v1/triggers/events?state=pending").json()
    assert [r["id"] for r in pending["items"]] == [record_id]
    officer = client_as("prefecture", chiba[CHIBA].prefecture_id)  # Chiba's officer (the wall: its own starts only)
    stopped = officer.post(f"/api/v1/triggers/events/{record_id}/cancel")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["reason"] == "cancelled_by_person" and stopped.json()["report_id"] is None
    assert client.post(f"/api/v1/triggers/events/{record_id}/cancel").status_code == 409
    assert run_starts(session, settings, at(10, 30)) == []


def test_a_json_tsunami_warning_by_its_japanese_name_starts_a_round(system, chiba, clock):
    clock.now = at(10, 20)
    body = {
        "hazard": "tsunami",
        "municipalities": [TATEYAMA],
        "severity": "津波警報",
        "occurred_at": "2025-03-01T10:15:00+09:00",
    }
    response = system.post("/api/v1/triggers", json=body)
    assert response.status_code == 200, response.text
    assert (response.json()["action"], response.json()["severity"]) == ("schedule_round", 4)
    wrong = system.post("/api/v1/triggers", json={**body, "hazard": "heavy_rain"})
    assert wrong.status_code == 422 and "津波" in wrong.text
