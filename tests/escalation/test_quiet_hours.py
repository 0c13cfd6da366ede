"""Issue 25.4: advance notices escalate on their own slower ladder and never reach families (or ring)
during the quiet hours (settings.notice_quiet_hours, 21:00–07:00 local); emergencies escalate at any hour.
Fixed clock: the job is given ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bcp_service.escalation.jobs import run_escalation
from bcp_service.escalation.policy import quiet_until, tier_policies
from bcp_service.models import OutboxMessage, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.escalation.conftest import POLICY, add_patient, borrowed, check_of

JST = ZoneInfo("Asia/Tokyo")


def _two_am() -> datetime:
    yesterday = (utcnow().astimezone(JST) - timedelta(days=1)).date()
    return datetime(yesterday.year, yesterday.month, yesterday.day, 2, 0, tzinfo=JST)


def _round(session, settings, area, kind: str, started: datetime):
    safety_round, _ = start_round(session=session, actor=Actor.system("test"), settings=settings, drill=False,
                                  reason="manual", target=RoundTarget(municipality_ids=[area.city.id]),
                                  escalation_policy=POLICY, kind=kind)
    safety_round.started_at = started
    session.add(safety_round)
    session.commit()
    return safety_round


def _family_messages(session, check_id: int, family_phone: str) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.check_id == check_id,
                                                         OutboxMessage.to_number == family_phone)).all())


def test_a_notice_round_at_two_sends_nothing_to_families_before_seven(session, settings, area):
    patient = add_patient(session, area.city, contacts=2)
    family_phone = session.exec(select(PatientContact.phone).where(PatientContact.patient_id == patient.id,
                                                                   PatientContact.kind == "family")).one()
    started = _two_am()
    notice = _round(session, settings, area, "advance_notice", started)
    check = check_of(session, notice.id, patient.id)

    for at in (started + timedelta(minutes=16), started + timedelta(minutes=31), started + timedelta(hours=4, minutes=59)):
        done = run_escalation(borrowed(session), settings=settings, now=at)
        assert "family" not in done and "call" not in done
    assert check_of(session, notice.id, patient.id).escalation_step == 1  # the patient's own reminder only
    assert _family_messages(session, check.id, family_phone) == []

    done = run_escalation(borrowed(session), settings=settings, now=started + timedelta(hours=5))  # 07:00
    assert done["family"] == 1 and done["call"] == 1
    assert len(_family_messages(session, check.id, family_phone)) == 1


def test_an_emergency_round_at_two_escalates_at_once(session, settings, area):
    patient = add_patient(session, area.city, contacts=2)
    started = _two_am()
    emergency = _round(session, settings, area, "safety_check", started)
    done = run_escalation(borrowed(session), settings=settings, now=started + timedelta(minutes=31))
    assert done["resend"] == 1 and done["family"] == 1
    assert check_of(session, emergency.id, patient.id).escalation_step == 2


def test_the_quiet_hours_and_the_notice_ladder(settings):
    assert quiet_until(datetime(2026, 12, 7, 2, 0, tzinfo=JST), settings) == datetime(2026, 12, 7, 7, 0, tzinfo=JST)
    assert quiet_until(datetime(2026, 12, 7, 21, 30, tzinfo=JST), settings) == datetime(2026, 12, 8, 7, 0, tzinfo=JST)
    assert quiet_until(datetime(2026, 12, 7, 7, 0, tzinfo=JST), settings) is None
    assert quiet_until(datetime(2026, 12, 7, 20, 59, tzinfo=JST), settings) is None
    notice = tier_policies(None, settings, "advance_notice")
    assert list(notice) == [None] and notice[None].steps[0].after_minutes == 120
    assert set(tier_policies(None, settings)) == {"critical", "high", "standard"}
