from datetime import datetime, timedelta

import pytest

from bcp_service.intensity import Intensity
from bcp_service.triggers.events import EventStatus, Hazard, InfoType, TriggerEvent
from bcp_service.triggers.guards import decide
from bcp_service.triggers.schemas import REASON_CODES, Decision, GuardConfig, PriorEvent
from tests.triggers.helpers import CHIBA, CHOSHI, FUNABASHI, ICHIKAWA, MATSUDO, NARITA, TATEYAMA, at

NOW = at(10, 17)
R = {i.value: i.rank for i in Intensity}
DEFAULT = GuardConfig()


def quake(
    severities: dict[str, str],
    *,
    event_id: str = "E1",
    status: EventStatus = EventStatus.NORMAL,
    info_type: InfoType = InfoType.ISSUE,
    reported_at: datetime = NOW,
) -> TriggerEvent:
    ranks = {code: R[value] for code, value in severities.items()}
    return TriggerEvent(
        source="jma_xml",
        event_id=event_id,
        status=status,
        info_type=info_type,
        hazard=Hazard.EARTHQUAKE,
        severity=max(ranks.values(), default=0),
        municipality_severity=ranks,
        reported_at=reported_at,
        title="震度速報",
    )


def prior(event_id: str, codes: dict, state: str, *, seen=NOW, hazard=Hazard.EARTHQUAKE, **more) -> PriorEvent:
    ranks = {code: R[value] if isinstance(value, str) else value for code, value in codes.items()}
    return PriorEvent(
        event_id=event_id,
        hazard=hazard,
        municipalities=frozenset(ranks),
        max_severity=max(ranks.values(), default=0),
        municipality_severity=ranks,
        first_seen_at=seen,
        state=state,
        round_id=f"round-{event_id}",
        not_before=seen + timedelta(minutes=3),
        **more,
    )


PATIENTS = frozenset({CHIBA, FUNABASHI, ICHIKAWA, CHOSHI})


def run(event, *, patients=PATIENTS, history=(), now=NOW, config=DEFAULT) -> Decision:
    decision = decide(event, config=config, municipalities_with_patients=set(patients), prior=list(history), now=now)
    assert decision.reason in REASON_CODES
    assert decision.reason_ja
    assert decision.event_id == event.event_id
    assert decision.decided_at == now
    assert set(decision.municipalities) <= set(patients) | set().union(*(p.municipalities for p in history))
    decision.model_dump_json()  # everything a decision holds must be visible through the API
    return decision


# threshold


def test_intensity_4_is_below_the_default_threshold():
    decision = run(quake({CHIBA: "4", FUNABASHI: "3"}))
    assert (decision.action, decision.reason) == ("ignore", "below_threshold")
    assert "震度4" in decision.reason_ja and "震度5弱以上" in decision.reason_ja
    assert decision.excluded == {CHIBA: "below_threshold", FUNABASHI: "below_threshold"}


def test_5_lower_with_patients_schedules_a_round_after_the_delay():
    decision = run(quake({CHIBA: "5-", FUNABASHI: "4", ICHIKAWA: "5+"}))
    assert (decision.action, decision.reason) == ("schedule_round", "threshold_met")
    assert decision.municipalities == (CHIBA, ICHIKAWA)
    assert decision.municipality_severity == {CHIBA: R["5-"], ICHIKAWA: R["5+"]}
    assert decision.severity == R["5+"]
    assert decision.not_before == NOW + timedelta(seconds=180)
    assert decision.excluded == {FUNABASHI: "below_threshold"}
    assert decision.drill is False
    assert "10:20" in decision.reason_ja and "千葉市" in decision.reason_ja


def test_threshold_and_delay_are_configurable():
    config = GuardConfig(min_intensity="5強", delay_seconds=0)
    assert run(quake({CHIBA: "5-"}), config=config).reason == "below_threshold"
    decision = run(quake({CHIBA: "5+"}), config=config)
    assert decision.action == "schedule_round"
    assert decision.not_before == NOW


def test_municipalities_without_patients_start_nothing():
    decision = run(quake({MATSUDO: "6-", NARITA: "3"}))
    assert (decision.action, decision.reason) == ("ignore", "no_registered_patients")
    assert decision.excluded == {MATSUDO: "no_registered_patients", NARITA: "below_threshold"}
    assert "松戸市" in decision.reason_ja


def test_only_municipalities_with_patients_are_in_the_round():
    decision = run(quake({MATSUDO: "6-", CHIBA: "5-"}))
    assert decision.municipalities == (CHIBA,)
    assert decision.excluded == {MATSUDO: "no_registered_patients"}


def test_event_outside_our_municipalities():
    decision = run(quake({}))
    assert (decision.action, decision.reason) == ("ignore", "no_matching_municipalities")


# delay then cancellation


def test_cancellation_stops_a_round_that_has_not_been_sent():
    history = [prior("E1", {CHIBA: "5-"}, "pending")]
    decision = run(quake({}, info_type=InfoType.CANCEL), history=history, now=NOW + timedelta(minutes=1))
    assert (decision.action, decision.reason) == ("cancel_pending", "cancelled_before_send")
    assert decision.target_round_id == "round-E1"
    assert decision.municipalities == (CHIBA,)
    assert "10:20送信予定" in decision.reason_ja


def test_cancellation_after_sending_is_recorded_as_too_late():
    history = [prior("E1", {CHIBA: "5-"}, "started")]
    decision = run(quake({}, info_type=InfoType.CANCEL), history=history, now=NOW + timedelta(minutes=5))
    assert (decision.action, decision.reason) == ("ignore", "cancel_too_late")
    assert "中止できません" in decision.reason_ja


def test_cancellation_of_an_event_that_started_nothing():
    history = [prior("E1", {}, "ignored")]
    decision = run(quake({}, info_type=InfoType.CANCEL), history=history)
    assert (decision.action, decision.reason) == ("ignore", "cancel_without_round")


def test_cancellation_of_another_event_does_not_touch_ours():
    history = [prior("E0", {CHIBA: "5-"}, "pending")]
    decision = run(quake({}, event_id="E9", info_type=InfoType.CANCEL), history=history)
    assert decision.reason == "cancel_without_round"


def test_late_cancellation_is_honoured_even_for_an_old_event():
    history = [prior("E1", {CHIBA: "5-"}, "pending", seen=NOW - timedelta(days=2))]
    event = quake({}, info_type=InfoType.CANCEL, reported_at=NOW - timedelta(days=2))
    assert run(event, history=history).action == "cancel_pending"


# repeat bulletin, correction


@pytest.mark.parametrize("state", ["pending", "started"])
def test_repeated_bulletin_with_the_same_event_id_is_a_duplicate(state):
    history = [prior("E1", {CHIBA: "5-", ICHIKAWA: "5-"}, state)]
    decision = run(quake({CHIBA: "5-", ICHIKAWA: "5+"}), history=history)
    assert (decision.action, decision.reason) == ("ignore", "duplicate_event")
    assert "E1" in decision.reason_ja


def test_follow_up_adding_a_municipality_extends_a_pending_round():
    history = [prior("E1", {CHIBA: "5-"}, "pending")]
    decision = run(quake({CHIBA: "5-", FUNABASHI: "5+"}), history=history, now=NOW + timedelta(minutes=1))
    assert (decision.action, decision.reason) == ("update_pending", "event_extended")
    assert decision.municipalities == (CHIBA, FUNABASHI)
    assert decision.not_before == NOW + timedelta(minutes=3)  # the original send time stands
    assert decision.target_round_id == "round-E1"


def test_follow_up_adding_a_municipality_after_sending_starts_a_round_for_it_only():
    history = [prior("E1", {CHIBA: "5-"}, "started")]
    decision = run(quake({CHIBA: "6-", FUNABASHI: "5+"}), history=history, now=NOW + timedelta(minutes=5))
    assert (decision.action, decision.reason) == ("schedule_round", "event_extended")
    assert decision.municipalities == (FUNABASHI,)


def test_correction_replaces_the_municipalities_of_a_pending_round():
    history = [prior("E1", {CHIBA: "5-", ICHIKAWA: "5-"}, "pending")]
    correction = quake({CHIBA: "4", ICHIKAWA: "6-", FUNABASHI: "5-"}, info_type=InfoType.CORRECTION)
    decision = run(correction, history=history, now=NOW + timedelta(minutes=1))
    assert (decision.action, decision.reason) == ("update_pending", "correction_updates_pending")
    assert decision.municipalities == (ICHIKAWA, FUNABASHI)
    assert decision.excluded == {CHIBA: "below_threshold"}
    assert decision.not_before == NOW + timedelta(minutes=3)


def test_correction_below_the_threshold_cancels_the_pending_round():
    history = [prior("E1", {CHIBA: "5-"}, "pending")]
    correction = quake({CHIBA: "4"}, info_type=InfoType.CORRECTION)
    decision = run(correction, history=history, now=NOW + timedelta(minutes=1))
    assert (decision.action, decision.reason) == ("cancel_pending", "correction_below_threshold")
    assert decision.target_round_id == "round-E1"


def test_correction_after_sending_with_nothing_new_is_a_duplicate():
    history = [prior("E1", {CHIBA: "5-"}, "started")]
    correction = quake({CHIBA: "6+"}, info_type=InfoType.CORRECTION)
    assert run(correction, history=history).reason == "duplicate_event"


def test_correction_of_an_ignored_event_is_judged_afresh():
    history = [prior("E1", {}, "ignored")]
    correction = quake({CHIBA: "5-"}, info_type=InfoType.CORRECTION)
    decision = run(correction, history=history)
    assert (decision.action, decision.reason) == ("schedule_round", "threshold_met")


# aftershocks


def test_weaker_aftershock_in_the_same_area_starts_nothing():
    history = [prior("E1", {CHIBA: "5+", FUNABASHI: "5-"}, "started")]
    event = quake({CHIBA: "5-", FUNABASHI: "5-"}, event_id="E2")
    decision = run(event, history=history, now=NOW + timedelta(hours=1))
    assert (decision.action, decision.reason) == ("ignore", "aftershock_not_stronger")
    assert decision.excluded == {CHIBA: "aftershock_not_stronger", FUNABASHI: "aftershock_not_stronger"}
    assert "6時間以内" in decision.reason_ja


def test_stronger_aftershock_starts_a_round_where_it_is_stronger():
    history = [prior("E1", {CHIBA: "5+", FUNABASHI: "5-"}, "started")]
    event = quake({CHIBA: "5+", FUNABASHI: "6-"}, event_id="E2")
    decision = run(event, history=history, now=NOW + timedelta(hours=2))
    assert (decision.action, decision.reason) == ("schedule_round", "stronger_aftershock")
    assert decision.municipalities == (FUNABASHI,)
    assert decision.excluded == {CHIBA: "aftershock_not_stronger"}


def test_the_same_quake_elsewhere_is_not_an_aftershock():
    history = [prior("E1", {CHIBA: "6-"}, "started")]
    decision = run(quake({CHOSHI: "5-"}, event_id="E2"), history=history, now=NOW + timedelta(hours=1))
    assert (decision.action, decision.reason) == ("schedule_round", "threshold_met")


def test_quake_after_the_window_starts_a_new_round():
    history = [prior("E1", {CHIBA: "6-"}, "started")]
    event = quake({CHIBA: "5-"}, event_id="E2")
    inside = NOW + timedelta(hours=5, minutes=59)
    assert run(event, history=history, now=inside).reason == "aftershock_not_stronger"
    assert run(event, history=history, now=NOW + timedelta(hours=6, minutes=1)).reason == "threshold_met"
    config = GuardConfig(aftershock_window_hours=12)
    later = NOW + timedelta(hours=7)
    assert run(event, history=history, now=later, config=config).reason == "aftershock_not_stronger"


@pytest.mark.parametrize("state", ["ignored", "cancelled"])
def test_ignored_or_cancelled_events_do_not_suppress_later_quakes(state):
    history = [prior("E1", {CHIBA: "6-"}, state)]
    assert run(quake({CHIBA: "5-"}, event_id="E2"), history=history).reason == "threshold_met"


def test_pending_round_of_another_quake_suppresses_a_weaker_one():
    history = [prior("E1", {CHIBA: "5+"}, "pending")]
    assert run(quake({CHIBA: "5+"}, event_id="E2"), history=history).reason == "aftershock_not_stronger"


def test_per_municipality_severity_is_used_when_known():
    # E1 shook 市川市 at 6-, 千葉市 only at 5-: a 5+ in 千葉市 is stronger there.
    history = [prior("E1", {CHIBA: "5-", ICHIKAWA: "6-"}, "started")]
    decision = run(quake({CHIBA: "5+", ICHIKAWA: "5+"}, event_id="E2"), history=history)
    assert decision.reason == "stronger_aftershock"
    assert decision.municipalities == (CHIBA,)


def test_prior_without_per_municipality_severity_falls_back_to_its_maximum():
    history = [
        PriorEvent(
            event_id="E1",
            municipalities=frozenset({CHIBA}),
            max_severity=R["5+"],
            first_seen_at=NOW,
            state="started",
        )
    ]
    assert run(quake({CHIBA: "5+"}, event_id="E2"), history=history).reason == "aftershock_not_stronger"
    assert run(quake({CHIBA: "6-"}, event_id="E2"), history=history).reason == "stronger_aftershock"


# drill and test


def test_drill_is_ignored_by_default():
    decision = run(quake({CHIBA: "6+"}, status=EventStatus.DRILL))
    assert (decision.action, decision.reason) == ("ignore", "drill_ignored")
    assert decision.drill is True


def test_test_bulletin_is_ignored_by_default():
    decision = run(quake({CHIBA: "6+"}, status=EventStatus.TEST))
    assert (decision.action, decision.reason) == ("ignore", "test_ignored")


def test_accepted_drill_schedules_a_round_marked_as_drill():
    decision = run(quake({CHIBA: "5-"}, status=EventStatus.DRILL), config=GuardConfig(accept_drill=True))
    assert decision.action == "schedule_round"
    assert decision.drill is True
    assert decision.reason_ja.startswith("【訓練】")
    # accepting drills does not accept test bulletins
    test_bulletin = quake({CHIBA: "5-"}, status=EventStatus.TEST)
    assert run(test_bulletin, config=GuardConfig(accept_drill=True)).reason == "test_ignored"


def test_accepted_test_bulletin_is_marked_too():
    decision = run(quake({CHIBA: "5-"}, status=EventStatus.TEST), config=GuardConfig(accept_test=True))
    assert decision.action == "schedule_round"
    assert decision.drill is True
    assert decision.reason_ja.startswith("【試験】")


def test_drills_and_real_events_never_suppress_each_other():
    drill_round = prior("D1", {CHIBA: "7"}, "pending", drill=True)
    decision = run(quake({CHIBA: "5-"}, event_id="E2"), history=[drill_round])
    assert decision.reason == "threshold_met"
    # nor can a real cancellation with a drill's event id stop a drill round
    cancel = quake({}, event_id="D1", info_type=InfoType.CANCEL)
    assert run(cancel, history=[drill_round]).reason == "cancel_without_round"


# other hazards, stale reports


def hazard_event(hazard: Hazard, levels: dict[str, int], event_id: str = "T1") -> TriggerEvent:
    return TriggerEvent(
        source="json",
        event_id=event_id,
        status=EventStatus.NORMAL,
        info_type=InfoType.ISSUE,
        hazard=hazard,
        severity=max(levels.values()),
        municipality_severity=levels,
        reported_at=NOW,
        title=hazard.value,
    )


def test_non_earthquake_hazards_use_the_level_threshold():
    patients = frozenset({TATEYAMA})
    below = run(hazard_event(Hazard.TYPHOON, {TATEYAMA: 3}), patients=patients)
    assert below.reason == "below_threshold"
    assert "警戒レベル3" in below.reason_ja and "警戒レベル4以上" in below.reason_ja
    assert run(hazard_event(Hazard.TYPHOON, {TATEYAMA: 4}), patients=patients).reason == "threshold_met"
    blackout = hazard_event(Hazard.BLACKOUT, {TATEYAMA: 2})
    assert run(blackout, patients=patients, config=GuardConfig(min_level=2)).action == "schedule_round"


def test_repeat_of_another_hazard_uses_its_own_reason_codes():
    patients = frozenset({TATEYAMA})
    history = [prior("T0", {TATEYAMA: 4}, "started", hazard=Hazard.TYPHOON)]
    same = run(hazard_event(Hazard.TYPHOON, {TATEYAMA: 4}), patients=patients, history=history)
    assert same.reason == "recent_event_not_stronger"
    stronger = run(hazard_event(Hazard.TYPHOON, {TATEYAMA: 5}), patients=patients, history=history)
    assert stronger.reason == "stronger_than_recent_event"
    # a typhoon round does not hold back an earthquake round in the same place
    earthquake = quake({TATEYAMA: "5-"}, event_id="E5")
    assert run(earthquake, patients=patients, history=history).reason == "threshold_met"


def test_old_reports_start_nothing():
    old = quake({CHIBA: "6-"}, reported_at=NOW - timedelta(hours=25))
    assert run(old).reason == "stale_event"
    assert run(old, config=GuardConfig(max_event_age_hours=None)).reason == "threshold_met"


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        naive = datetime(2025, 3, 1)
        decide(quake({CHIBA: "5-"}), config=DEFAULT, municipalities_with_patients=set(), prior=[], now=naive)


def test_config_validation():
    with pytest.raises(ValueError):
        GuardConfig(min_intensity="5")
    with pytest.raises(ValueError):
        GuardConfig(delay_seconds=-1)
    with pytest.raises(ValueError):
        GuardConfig(min_level=6)
    assert GuardConfig().model_dump(mode="json")["min_intensity"] == "5-"
