"""A cancellation (取消) of an event that was merged into another event's pending round (rule 7) takes
back only what that event brought; the round keeps what the remaining bulletins justify, or is
cancelled when none do. Once the round has started nothing is undone, and the decision says so."""

from datetime import datetime

from bcp_service.triggers.events import EventStatus, Hazard, InfoType, TriggerEvent
from bcp_service.triggers.guards import decide
from bcp_service.triggers.history import apply_decision, mark_started
from bcp_service.triggers.schemas import GuardConfig
from tests.triggers.dbsetup import (  # noqa: F401 (fixtures)
    chiba,
    clock,
    post_bulletin,
    records,
    round_municipality_codes,
    rounds,
    run_starts,
    system,
)
from tests.triggers.helpers import CHIBA, DATA, FUNABASHI, ICHIKAWA, INZAI, NARASHINO, at

QUAKE = "20250301101512"
AFTERSHOCK = "20250301121045"


def cancel_of(event_id: str) -> bytes:
    return (DATA / "vxse51_cancel.xml").read_bytes().replace(QUAKE.encode(), event_id.encode())


def post_cancel(system, clock, event_id: str, when: datetime):
    clock.now = when
    response = system.post(
        "/api/v1/triggers", content=cancel_of(event_id), headers={"Content-Type": "application/xml; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def quake_and_aftershock(system, clock):
    first = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30)).json()
    merged = post_bulletin(system, "vxse53_aftershock_stronger.xml", clock, at(10, 17, 0)).json()
    assert (merged["action"], merged["reason"]) == ("update_pending", "merged_into_pending")
    return first, merged


def test_cancelling_the_merged_aftershock_takes_back_only_its_part(system, session, settings, chiba, clock):
    first, merged = quake_and_aftershock(system, clock)
    assert set(merged["municipalities"]) > set(first["municipalities"]) or merged["severity"] > first["severity"]
    cancel = post_cancel(system, clock, AFTERSHOCK, at(10, 17, 40))
    assert (cancel["action"], cancel["reason"]) == ("update_pending", "cancelled_event_withdrawn")
    assert cancel["record"]["id"] == first["record"]["id"] and cancel["record"]["state"] == "pending"
    assert sorted(cancel["municipalities"]) == sorted(first["municipalities"])
    assert cancel["severity"] == first["severity"]
    assert "取り除きます" in cancel["reason_ja"]
    (record,) = records(session)
    assert record.municipality_severity == {
        code: first["severity"] if code == FUNABASHI else rank for code, rank in record.municipality_severity.items()
    }
    assert set(record.contributions) == {QUAKE}
    (round_id,) = run_starts(session, settings, at(10, 19, 30))  # still at the first quake's time
    assert round_municipality_codes(session, round_id, chiba) == set(first["municipalities"])
    again = post_cancel(system, clock, AFTERSHOCK, at(10, 25))
    assert (again["action"], again["reason"]) == ("ignore", "cancel_without_round")


def test_cancelling_the_first_quake_keeps_what_the_aftershock_justifies(system, session, settings, chiba, clock):
    _first, _merged = quake_and_aftershock(system, clock)
    cancel = post_cancel(system, clock, QUAKE, at(10, 17, 40))
    assert (cancel["action"], cancel["reason"]) == ("update_pending", "cancelled_event_withdrawn")
    (record,) = records(session)
    assert set(record.contributions) == {AFTERSHOCK} and record.state == "pending"
    both = post_cancel(system, clock, AFTERSHOCK, at(10, 18, 0))
    assert (both["action"], both["reason"]) == ("cancel_pending", "cancelled_before_send")
    assert records(session)[0].state == "cancelled"
    assert run_starts(session, settings, at(10, 30)) == [] and rounds(session) == []


def test_after_the_start_nothing_is_undone_and_the_decision_says_so(system, session, settings, chiba, clock):
    _first, _ = quake_and_aftershock(system, clock)
    (round_id,) = run_starts(session, settings, at(10, 19, 30))
    cancel = post_cancel(system, clock, AFTERSHOCK, at(10, 20, 0))
    assert (cancel["action"], cancel["reason"]) == ("ignore", "cancel_too_late")
    assert "この事象を統合した安否確認は既に送信を開始" in cancel["reason_ja"]
    (record,) = records(session, QUAKE)
    assert record.state == "started" and record.round_id == round_id
    assert FUNABASHI in record.municipalities


def _event(event_id: str, levels: dict[str, int], at_: datetime, info: InfoType = InfoType.ISSUE) -> TriggerEvent:
    return TriggerEvent(
        source="json",
        event_id=event_id,
        status=EventStatus.NORMAL,
        info_type=info,
        hazard=Hazard.EARTHQUAKE,
        severity=max(levels.values(), default=0),
        municipality_severity=levels,
        reported_at=at_,
        occurred_at=at_,
        title="地震",
    )


def test_the_pure_rules_keep_each_events_part():
    config = GuardConfig(delay_seconds=180)
    patients = frozenset({CHIBA, ICHIKAWA, FUNABASHI, NARASHINO, INZAI})
    prior: list = []
    steps = [
        (_event("A", {CHIBA: 6, ICHIKAWA: 6}, at(10, 0)), "schedule_round"),
        (_event("B", {ICHIKAWA: 7, FUNABASHI: 6}, at(10, 1)), "update_pending"),  # merged: stronger, wider
        (_event("C", {INZAI: 6, CHIBA: 7}, at(10, 2)), "update_pending"),  # merged too
        (_event("B", {}, at(10, 2, 30), InfoType.CANCEL), "update_pending"),  # B withdrawn: A and C remain
    ]
    for event, action in steps:
        decision = decide(
            event, config=config, municipalities_with_patients=patients, prior=prior, now=event.reported_at
        )
        assert decision.action == action, decision
        prior = apply_decision(prior, event, decision, round_id="r1" if action == "schedule_round" else None)
    (record,) = prior
    assert record.municipalities == {CHIBA, ICHIKAWA, INZAI}
    assert record.municipality_severity == {CHIBA: 7, ICHIKAWA: 6, INZAI: 6}
    assert set(record.contributions) == {"A", "C"}
    started = mark_started(prior, "r1")
    late = decide(
        _event("C", {}, at(10, 4), InfoType.CANCEL),
        config=config,
        municipalities_with_patients=patients,
        prior=started,
        now=at(10, 4),
    )
    assert (late.action, late.reason, late.target_round_id) == ("ignore", "cancel_too_late", "r1")
