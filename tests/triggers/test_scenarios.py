"""Whole bulletin sequences: parse, map, decide, record, as the trigger endpoint will."""

from datetime import datetime, timedelta

import pytest

from bcp_service.intensity import Intensity
from bcp_service.triggers.events import TriggerEvent
from bcp_service.triggers.guards import decide
from bcp_service.triggers.history import apply_decision, mark_started
from bcp_service.triggers.schemas import Decision, GuardConfig, PriorEvent
from tests.triggers.helpers import (
    CHIBA,
    FUNABASHI,
    ICHIKAWA,
    INZAI,
    MATSUDO,
    NARASHINO,
    at,
    load_event,
)


class Feed:
    """Stands in for the caller: keeps the prior-event records between bulletins."""

    def __init__(self, patients: frozenset[str], config: GuardConfig | None = None) -> None:
        self.patients = patients
        self.config = config or GuardConfig()
        self.prior: list[PriorEvent] = []
        self.log: list[Decision] = []
        self._rounds = 0

    def receive(self, name: str, now: datetime) -> Decision:
        event: TriggerEvent = load_event(name)
        decision = decide(
            event, config=self.config, municipalities_with_patients=self.patients, prior=self.prior, now=now
        )
        round_id = None
        if decision.action == "schedule_round":
            self._rounds += 1
            round_id = f"round-{self._rounds}"
        self.prior = apply_decision(self.prior, event, decision, round_id=round_id)
        self.log.append(decision)
        return decision

    def send_due(self, now: datetime) -> None:
        for p in self.prior:
            if p.state == "pending" and p.not_before is not None and p.not_before <= now:
                self.prior = mark_started(self.prior, p.round_id)

    def state_of(self, event_id: str) -> list[str]:
        return [p.state for p in self.prior if p.event_id == event_id]


QUAKE = "20250301101512"


def test_delay_then_cancellation_stops_the_round(patients):
    feed = Feed(patients)
    first = feed.receive("vxse51_chiba_5lower.xml", at(10, 16, 30))
    assert (first.action, first.reason) == ("schedule_round", "threshold_met")
    assert first.not_before == at(10, 19, 30)
    # 千葉県北西部 5-: every municipality of the area with patients; 北東部 (4) is below threshold
    assert first.municipalities == tuple(sorted({CHIBA, ICHIKAWA, FUNABASHI, NARASHINO, INZAI}))

    feed.send_due(at(10, 17, 0))
    cancel = feed.receive("vxse51_cancel.xml", at(10, 17, 31))
    assert (cancel.action, cancel.reason) == ("cancel_pending", "cancelled_before_send")
    assert cancel.target_round_id == "round-1"
    assert feed.state_of(QUAKE) == ["cancelled"]

    feed.send_due(at(10, 30))
    assert feed.state_of(QUAKE) == ["cancelled"]  # nothing was sent


def test_cancellation_after_the_delay_is_too_late(patients):
    feed = Feed(patients)
    feed.receive("vxse51_chiba_5lower.xml", at(10, 16, 30))
    feed.send_due(at(10, 19, 30))
    cancel = feed.receive("vxse51_cancel.xml", at(10, 19, 45))
    assert (cancel.action, cancel.reason) == ("ignore", "cancel_too_late")
    assert feed.state_of(QUAKE) == ["started"]


def test_one_quake_its_follow_ups_and_its_aftershocks(patients):
    feed = Feed(patients)
    feed.receive("vxse51_chiba_5lower.xml", at(10, 16, 30))
    feed.send_due(at(10, 19, 30))

    # VXSE53 carries the same EventID: a repeat, with finer detail but no new municipality
    detail = feed.receive("vxse53_chiba_cities.xml", at(10, 20, 10))
    assert (detail.action, detail.reason) == ("ignore", "duplicate_event")
    (round_1,) = feed.prior
    assert round_1.severity_in(ICHIKAWA) == Intensity.FIVE_UPPER.rank  # learnt from the VXSE53

    correction = feed.receive("vxse53_correction.xml", at(10, 22, 10))
    assert (correction.action, correction.reason) == ("ignore", "duplicate_event")
    assert feed.prior[0].severity_in(ICHIKAWA) == Intensity.SIX_LOWER.rank

    weaker = feed.receive("vxse53_aftershock_weaker.xml", at(11, 21, 10))
    assert (weaker.action, weaker.reason) == ("ignore", "aftershock_not_stronger")
    assert weaker.excluded[FUNABASHI] == "aftershock_not_stronger"

    stronger = feed.receive("vxse53_aftershock_stronger.xml", at(12, 15, 10))
    assert (stronger.action, stronger.reason) == ("schedule_round", "stronger_aftershock")
    # 船橋市 6- and 千葉市 5+ beat the first quake's 5-; 市川市 5+ does not beat its 6-,
    # and 習志野市 5- does not beat the 5- the first 震度速報 gave its area.
    assert stronger.municipalities == (CHIBA, FUNABASHI)
    assert stronger.excluded == {ICHIKAWA: "aftershock_not_stronger", NARASHINO: "aftershock_not_stronger"}
    assert stronger.not_before == at(12, 18, 10)

    assert [d.reason for d in feed.log] == [
        "threshold_met",
        "duplicate_event",
        "duplicate_event",
        "aftershock_not_stronger",
        "stronger_aftershock",
    ]


def test_correction_adds_a_municipality_after_the_round_started():
    feed = Feed(frozenset({CHIBA, ICHIKAWA, FUNABASHI, MATSUDO}))
    first = feed.receive("vxse53_chiba_cities.xml", at(10, 20, 10))
    assert first.municipalities == (CHIBA, ICHIKAWA, FUNABASHI)
    feed.send_due(at(10, 23, 10))

    correction = feed.receive("vxse53_correction.xml", at(10, 24, 0))
    assert (correction.action, correction.reason) == ("schedule_round", "event_extended")
    assert correction.municipalities == (MATSUDO,)
    assert feed.state_of(QUAKE) == ["started", "pending"]


def test_correction_while_pending_updates_the_round():
    feed = Feed(frozenset({CHIBA, ICHIKAWA, MATSUDO}))
    feed.receive("vxse53_chiba_cities.xml", at(10, 20, 10))
    correction = feed.receive("vxse53_correction.xml", at(10, 22, 10))
    assert (correction.action, correction.reason) == ("update_pending", "correction_updates_pending")
    assert correction.municipalities == (CHIBA, ICHIKAWA, MATSUDO)
    assert correction.not_before == at(10, 23, 10)
    (pending,) = feed.prior
    assert pending.municipalities == {CHIBA, ICHIKAWA, MATSUDO}
    assert pending.max_severity == Intensity.SIX_LOWER.rank


def test_drill_bulletin_starts_nothing_by_default(patients):
    feed = Feed(patients)
    decision = feed.receive("vxse51_drill.xml", at(14, 1, 40))
    assert (decision.action, decision.reason) == ("ignore", "drill_ignored")
    assert feed.state_of("20250301140000") == ["ignored"]


def test_accepted_drill_runs_apart_from_real_events(patients):
    feed = Feed(patients, GuardConfig(accept_drill=True))
    drill = feed.receive("vxse51_drill.xml", at(14, 1, 40))
    assert drill.action == "schedule_round"
    assert drill.drill is True
    assert feed.prior[0].drill is True
    # a real quake minutes later is not taken for an aftershock of the drill
    real = feed.receive("vxse51_chiba_5lower.xml", at(14, 3, 0))
    assert (real.action, real.reason, real.drill) == ("schedule_round", "threshold_met", False)


@pytest.mark.parametrize(
    ("config", "action"), [(GuardConfig(), "ignore"), (GuardConfig(accept_test=True), "schedule_round")]
)
def test_test_bulletin(patients, config, action):
    decision = Feed(patients, config).receive("vxse51_test.xml", at(15, 1, 40))
    assert decision.action == action
    if action == "ignore":
        assert decision.reason == "test_ignored"


def test_distant_quake_touches_none_of_our_municipalities(patients):
    decision = Feed(patients).receive("vxse53_distant.xml", at(13, 41, 0, day=2))
    assert (decision.action, decision.reason) == ("ignore", "no_matching_municipalities")


def test_replayed_old_bulletin_starts_nothing(patients):
    decision = Feed(patients).receive("vxse51_chiba_5lower.xml", at(10, 16, day=3))
    assert decision.reason == "stale_event"


def test_every_decision_in_a_sequence_is_recorded_for_the_api(patients):
    feed = Feed(patients)
    for name, moment in [
        ("vxse51_drill.xml", at(9, 0)),
        ("vxse51_chiba_5lower.xml", at(10, 16, 30)),
        ("vxse51_cancel.xml", at(10, 17, 31)),
    ]:
        feed.receive(name, moment)
    dumped = [d.model_dump(mode="json") for d in feed.log]
    assert [d["reason"] for d in dumped] == ["drill_ignored", "threshold_met", "cancelled_before_send"]
    assert all(d["reason_ja"] for d in dumped)
    assert dumped[1]["not_before"] == (at(10, 16, 30) + timedelta(seconds=180)).isoformat()
    assert {p.event_id: p.state for p in feed.prior} == {"20250301140000": "ignored", QUAKE: "cancelled"}
