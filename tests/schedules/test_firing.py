"""Firing in one process: due times, idempotency, the misfire policy, failures, scope."""

from datetime import timedelta

from sqlmodel import select

from bcp_service.models import OutboxMessage, SafetyCheck, SafetyRound, ScheduleFiring
from bcp_service.schedules.firing import fire_due_schedules
from tests.schedules.conftest import add_patient, add_schedule, borrowed, utc

# Daily at 09:00 in Tokyo = 00:00 UTC. The schedule exists from 1 March 2025.
CREATED = utc(2025, 3, 1, 0, 0)


def fire(session, settings, now, instance="test-1"):
    session.commit()  # keep the setup when a firing rolls back (it only releases a savepoint)
    return fire_due_schedules(borrowed(session), settings=settings, instance_id=instance, now=now)


def firings(session, schedule_id):
    return session.exec(
        select(ScheduleFiring).where(ScheduleFiring.schedule_id == schedule_id).order_by(ScheduleFiring.fire_time)
    ).all()


def test_a_due_fire_time_starts_one_round_and_a_second_pass_starts_none(session, settings, area):
    patient = add_patient(session, area.city)
    schedule = add_schedule(
        session,
        target={"municipality_ids": [area.city.id]},
        effective_from=CREATED,
        escalation_policy={"steps": [{"after_minutes": 10, "action": "resend"}]},
    )
    assert fire(session, settings, utc(2025, 3, 1, 23, 59)) == []  # not yet 09:00 JST on the 2nd
    (firing,) = fire(session, settings, utc(2025, 3, 2, 0, 0, 4))
    assert firing.outcome == "started" and firing.fire_time.replace(tzinfo=None) == utc(2025, 3, 2).replace(tzinfo=None)
    assert firing.late_seconds == 4 and firing.coalesced == 0
    safety_round = session.get(SafetyRound, firing.round_id)
    assert safety_round.idempotency_key == f"schedule:{schedule.id}:2025-03-02T00:00:00+00:00"
    assert safety_round.drill is True and safety_round.reason == "scheduled"
    assert safety_round.title == "月例訓練 (2025-03-02 09:00)"
    assert safety_round.started_by_name == f"schedule:{schedule.id}"
    assert safety_round.escalation_policy == {"steps": [{"after_minutes": 10, "action": "resend"}]}
    assert session.exec(select(SafetyCheck.patient_id).where(SafetyCheck.round_id == safety_round.id)).all() == [
        patient.id
    ]

    assert fire(session, settings, utc(2025, 3, 2, 0, 0, 9), instance="test-2") == []
    assert len(firings(session, schedule.id)) == 1
    assert len(session.exec(select(SafetyRound)).all()) == 1


def test_fire_times_missed_while_down_are_coalesced_and_run_once_within_grace(session, settings, area):
    add_patient(session, area.city)
    add_schedule(session, target={"municipality_ids": [area.city.id]}, effective_from=CREATED)
    # Down from before the 2nd until 09:05 on the 5th: the 2nd, 3rd, 4th and 5th were due.
    (firing,) = fire(session, settings, utc(2025, 3, 5, 0, 5))
    assert firing.outcome == "started" and firing.coalesced == 3 and firing.late_seconds == 300
    assert firing.round_id is not None
    assert len(session.exec(select(SafetyRound)).all()) == 1


def test_a_fire_time_later_than_the_grace_period_is_recorded_as_missed(session, settings, area):
    add_patient(session, area.city)
    schedule = add_schedule(session, target={"municipality_ids": [area.city.id]}, effective_from=CREATED)
    late = timedelta(seconds=settings.schedule_misfire_grace_seconds + 1)
    (firing,) = fire(session, settings, utc(2025, 3, 2) + late)
    assert firing.outcome == "missed" and firing.round_id is None
    assert fire(session, settings, utc(2025, 3, 2) + late + timedelta(minutes=1)) == []
    assert session.exec(select(SafetyRound)).all() == []
    (next_day,) = fire(session, settings, utc(2025, 3, 3, 0, 0, 1))  # the next one runs as usual
    assert next_day.outcome == "started"
    assert [f.outcome for f in firings(session, schedule.id)] == ["missed", "started"]


def test_skip_policy_and_per_schedule_grace(session, settings, area):
    add_patient(session, area.city)
    strict = add_schedule(
        session, target={"municipality_ids": [area.city.id]}, effective_from=CREATED, misfire_policy="skip"
    )
    lenient = add_schedule(
        session,
        target={"municipality_ids": [area.city.id]},
        effective_from=CREATED,
        misfire_grace_seconds=6 * 3600,
        name="台風",
    )
    results = {f.schedule_id: f for f in fire(session, settings, utc(2025, 3, 2, 2, 0))}  # two hours late
    assert results[strict.id].outcome == "missed"
    assert results[lenient.id].outcome == "started"


def test_inactive_deleted_and_ended_schedules_do_not_fire(session, settings, area):
    target = {"municipality_ids": [area.city.id]}
    add_schedule(session, target=target, effective_from=CREATED, active=False)
    add_schedule(session, target=target, effective_from=CREATED, deleted_at=CREATED)
    add_schedule(session, target=target, effective_from=CREATED, ends_at=utc(2025, 3, 1, 12))
    future = add_schedule(session, target=target, effective_from=CREATED, starts_at=utc(2025, 3, 10))
    assert fire(session, settings, utc(2025, 3, 2, 0, 1)) == []
    (firing,) = fire(session, settings, utc(2025, 3, 10, 0, 0, 1))
    assert firing.schedule_id == future.id


def test_a_schedule_that_cannot_start_records_a_failed_firing_once(session, settings, area):
    schedule = add_schedule(session, target={"municipality_codes": ["999999"]}, effective_from=CREATED)
    (firing,) = fire(session, settings, utc(2025, 3, 2, 0, 0, 1))
    assert firing.outcome == "failed" and "999999" in firing.error and firing.round_id is None
    assert fire(session, settings, utc(2025, 3, 2, 0, 0, 30)) == []
    assert len(firings(session, schedule.id)) == 1


def test_rounds_of_a_hub_schedule_reach_only_the_hubs_patients(session, settings, area):
    inside = add_patient(session, area.city)
    add_patient(session, area.town)  # same prefecture, not covered by the hub
    schedule = add_schedule(
        session,
        target={"prefecture_id": area.prefecture.id},
        effective_from=CREATED,
        created_by_role="hub",
        created_by_scope_id=area.hub.id,
        created_by_name="hub-user",
    )
    (firing,) = fire(session, settings, utc(2025, 3, 2, 0, 0, 1))
    safety_round = session.get(SafetyRound, firing.round_id)
    assert safety_round.started_by_role == "hub" and safety_round.started_by_scope_id == area.hub.id
    assert session.exec(select(SafetyCheck.patient_id).where(SafetyCheck.round_id == safety_round.id)).all() == [
        inside.id
    ]
    assert schedule.id == firing.schedule_id


def test_an_advance_notice_schedule_starts_notice_rounds(session, settings, area):
    add_patient(session, area.city)
    schedule = add_schedule(
        session,
        target={"municipality_ids": [area.city.id]},
        effective_from=CREATED,
        kind="advance_notice",
        title="台風接近に備えた事前連絡",
    )
    (firing,) = fire(session, settings, utc(2025, 3, 2, 0, 0, 4))
    safety_round = session.get(SafetyRound, firing.round_id)
    assert safety_round.kind == "advance_notice" and schedule.kind == "advance_notice"
    templates = session.exec(select(OutboxMessage.template).where(OutboxMessage.round_id == safety_round.id)).all()
    assert templates == ["notice_initial"]
