"""A planned shutoff posted ahead starts an advance-notice round (事前連絡) for the patients on devices in
that municipality, before it starts, through the trigger guards (duplicates, merging into a pending
round); once its start has passed it is a current outage under the existing rule."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bcp_service.models import SafetyCheck
from bcp_service.outages.service import power_out_municipality_ids
from tests.factories import create_patient
from tests.outages.test_outages import NOW, _phones, outage, towns, ventilator  # noqa: F401 (fixture)
from tests.triggers.dbsetup import clock, records, rounds, run_starts, system  # noqa: F401 (fixtures)


def planned(municipality, *, starts_in: float, hours: float = 5, ident: str = "p-1") -> dict:
    start = NOW + timedelta(hours=starts_in)
    return {
        **outage(municipality, ident=ident),
        "started_at": start.isoformat(),
        "expected_restoration_at": (start + timedelta(hours=hours)).isoformat(),
        "planned": True,
    }


def post(system, *items):
    response = system.post("/api/v1/outages", json={"source": "tepco-pg", "outages": list(items)})
    assert response.status_code == 200, response.text
    return response.json()


def checked_patients(session, round_id):
    return set(session.exec(select(SafetyCheck.patient_id).where(SafetyCheck.round_id == round_id)).all())


def test_a_planned_shutoff_ahead_starts_a_notice_round_for_device_users(system, session, settings, towns, clock):
    coast, hills = towns
    vent = ventilator(session, coast)
    oxygen = create_patient(session, coast, phones=[f"+8170{next(_phones)}"])  # oxygen (the factory's default)
    suction = create_patient(session, coast, phones=[f"+8170{next(_phones)}"], uses_oxygen=False, uses_suction=True)
    ventilator(session, hills)
    clock.now = NOW
    summary = post(system, planned(coast, starts_in=20))
    assert summary["power_out_municipalities"] == []  # not out yet
    assert power_out_municipality_ids(session=session, now=NOW) == set()
    (decision,) = summary["decisions"]
    assert decision["advance_notice"] is True
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["municipalities"] == [coast.code]
    assert "事前連絡を開始します" in decision["reason_ja"] and "安否確認" not in decision["reason_ja"]

    again = post(system, planned(coast, starts_in=20))
    assert again["stored"] == 0 and [d["reason"] for d in again["decisions"]] == ["duplicate_event"]

    (round_id,) = run_starts(session, settings, NOW + timedelta(minutes=4))
    (notice,) = rounds(session)
    assert notice.id == round_id and notice.kind == "advance_notice" and notice.title.startswith("【事前連絡】計画停電")
    assert checked_patients(session, round_id) == {vent.id, oxygen.id}  # not the suction-only patient
    assert suction.id not in checked_patients(session, round_id)


def test_a_second_shutoff_while_the_notice_is_pending_widens_it(system, session, settings, towns, clock):
    coast, hills = towns
    ventilator(session, coast)
    other = ventilator(session, hills)
    clock.now = NOW
    first = post(system, planned(coast, starts_in=20))["decisions"][0]
    clock.now = NOW + timedelta(minutes=1)
    wider = post(system, planned(coast, starts_in=20), planned(hills, starts_in=30, ident="p-2"))["decisions"][0]
    assert (wider["action"], wider["reason"]) == ("update_pending", "merged_into_pending")
    assert wider["record_id"] == first["record_id"] and sorted(wider["municipalities"]) == sorted(
        [coast.code, hills.code]
    )
    (round_id,) = run_starts(session, settings, NOW + timedelta(minutes=4))
    assert other.id in checked_patients(session, round_id) and len(rounds(session)) == 1


def test_what_the_rule_leaves_alone(system, session, settings, towns, clock):
    coast, hills = towns
    ventilator(session, coast)
    create_patient(session, hills, phones=[f"+8170{next(_phones)}"], uses_oxygen=False, uses_suction=True)
    clock.now = NOW
    # Too far ahead (the source re-posts: it is noticed once it comes within the window).
    assert post(system, planned(coast, starts_in=100))["decisions"] == []
    # Nobody on a listed device in the hills: recorded, below the notice threshold.
    (quiet,) = post(system, planned(hills, starts_in=10, ident="p-3"))["decisions"]
    assert (quiet["action"], quiet["reason"]) == ("ignore", "below_threshold")
    # Switched off: no blackout key in BCP_ADVANCE_NOTICE_LEVELS.
    levels = {k: v for k, v in settings.advance_notice_levels.items() if k != "blackout"}
    system.app.state.settings = settings.model_copy(update={"advance_notice_levels": levels})
    assert post(system, planned(coast, starts_in=10, ident="p-4"))["decisions"] == []
    assert run_starts(session, settings, NOW + timedelta(minutes=10)) == []


def test_once_its_start_has_passed_a_planned_shutoff_is_a_current_outage(system, session, settings, towns, clock):
    coast, _ = towns
    ventilator(session, coast)
    clock.now = NOW
    post(system, planned(coast, starts_in=2))
    run_starts(session, settings, NOW + timedelta(minutes=4))  # the notice round
    clock.now = NOW + timedelta(hours=3)
    summary = post(system, planned(coast, starts_in=2))
    assert summary["power_out_municipalities"] == [coast.code]
    (decision,) = summary["decisions"]  # the notice is behind it; the blackout rule decides
    assert decision["advance_notice"] is False
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    run_starts(session, settings, NOW + timedelta(hours=3, minutes=4))
    assert [r.kind for r in rounds(session)] == ["advance_notice", "safety_check"]
    assert len(records(session)) == 2
