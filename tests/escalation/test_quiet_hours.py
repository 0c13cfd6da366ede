"""Issue 25.4: advance notices escalate on their own slower ladder and never reach families (or ring)
during the quiet hours (the prefecture's, else settings.notice_quiet_hours, 21:00–07:00 local), not even
by a first message or a failover to a family contact; emergencies escalate at any hour.
Fixed clock: the job is given ``now``; the round's start reads ``rounds.service.utcnow``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bcp_service.escalation.jobs import run_escalation
from bcp_service.escalation.policy import tier_policies
from bcp_service.models import OutboxMessage, PatientContact, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.rounds import service as round_service
from bcp_service.rounds.quiet import quiet_until, round_quiet_until
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.escalation.conftest import POLICY, add_patient, borrowed, check_of

JST = ZoneInfo("Asia/Tokyo")


def _two_am() -> datetime:
    yesterday = (utcnow().astimezone(JST) - timedelta(days=1)).date()
    return datetime(yesterday.year, yesterday.month, yesterday.day, 2, 0, tzinfo=JST)


def _round(session, settings, area, kind: str, started: datetime, monkeypatch=None):
    if monkeypatch is not None:  # the round starts at ``started``, so its first messages meet the quiet hours
        monkeypatch.setattr(round_service, "utcnow", lambda: started)
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=False,
        reason="manual",
        target=RoundTarget(municipality_ids=[area.city.id]),
        escalation_policy=POLICY,
        kind=kind,
    )
    safety_round.started_at = started
    session.add(safety_round)
    session.commit()
    return safety_round


def _family_messages(session, check_id: int, family_phone: str) -> list[OutboxMessage]:
    return list(
        session.exec(
            select(OutboxMessage).where(OutboxMessage.check_id == check_id, OutboxMessage.to_number == family_phone)
        ).all()
    )


def test_a_notice_round_at_two_sends_nothing_to_families_before_seven(session, settings, area):
    patient = add_patient(session, area.city, contacts=2)
    family_phone = session.exec(
        select(PatientContact.phone).where(PatientContact.patient_id == patient.id, PatientContact.kind == "family")
    ).one()
    started = _two_am()
    notice = _round(session, settings, area, "advance_notice", started)
    check = check_of(session, notice.id, patient.id)

    for at in (
        started + timedelta(minutes=16),
        started + timedelta(minutes=31),
        started + timedelta(hours=4, minutes=59),
    ):
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
    hours, tz = settings.notice_quiet_hours, settings.timezone
    assert quiet_until(datetime(2026, 12, 7, 2, 0, tzinfo=JST), hours, tz) == datetime(2026, 12, 7, 7, 0, tzinfo=JST)
    assert quiet_until(datetime(2026, 12, 7, 21, 30, tzinfo=JST), hours, tz) == datetime(2026, 12, 8, 7, 0, tzinfo=JST)
    assert quiet_until(datetime(2026, 12, 7, 7, 0, tzinfo=JST), hours, tz) is None
    assert quiet_until(datetime(2026, 12, 7, 20, 59, tzinfo=JST), hours, tz) is None
    assert quiet_until(datetime(2026, 12, 7, 2, 0, tzinfo=JST), ("00:00", "00:00"), tz) is None  # none
    # A notice round that kept no rule (started before rules were kept) follows the default.
    assert round_quiet_until("advance_notice", None, datetime(2026, 12, 7, 2, 0, tzinfo=JST), settings) is not None
    assert round_quiet_until("safety_check", None, datetime(2026, 12, 7, 2, 0, tzinfo=JST), settings) is None
    notice = tier_policies(None, settings, "advance_notice")
    assert list(notice) == [None] and notice[None].steps[0].after_minutes == 120
    assert set(tier_policies(None, settings)) == {"critical", "high", "standard"}


def _family_only(session, area):
    """A patient reached first through the family (no phone of their own)."""
    patient = add_patient(session, area.city, contacts=1)
    contact = session.exec(select(PatientContact).where(PatientContact.patient_id == patient.id)).one()
    contact.kind = "family"
    session.add(contact)
    session.flush()
    return patient, contact.phone


def test_a_notice_at_two_holds_the_first_message_to_a_family_until_seven(session, settings, area, monkeypatch):
    own = add_patient(session, area.city, contacts=1)
    family_first, family_phone = _family_only(session, area)
    started = _two_am()
    notice = _round(session, settings, area, "advance_notice", started, monkeypatch)
    assert notice.quiet_hours["prefectures"] == {str(area.prefecture.id): ["21:00", "07:00"]}

    to_family = _family_messages(session, check_of(session, notice.id, family_first.id).id, family_phone)
    assert len(to_family) == 1 and to_family[0].next_attempt_at == datetime(
        started.year, started.month, started.day, 7, 0, tzinfo=JST
    )
    to_patient = session.exec(
        select(OutboxMessage).where(OutboxMessage.check_id == check_of(session, notice.id, own.id).id)
    ).one()
    assert to_patient.next_attempt_at <= started  # the patient's own first SMS goes at once


def test_an_emergency_at_two_messages_a_family_first_contact_at_once(session, settings, area, monkeypatch):
    patient, family_phone = _family_only(session, area)
    started = _two_am()
    emergency = _round(session, settings, area, "safety_check", started, monkeypatch)
    assert emergency.quiet_hours is None
    (message,) = _family_messages(session, check_of(session, emergency.id, patient.id).id, family_phone)
    assert message.next_attempt_at <= started


def test_the_prefectures_own_hours_are_kept_by_the_round(session, settings, area, monkeypatch):
    area.prefecture.quiet_start, area.prefecture.quiet_end = "23:00", "06:00"
    session.add(area.prefecture)
    patient, family_phone = _family_only(session, area)
    started = _two_am().replace(hour=6, minute=30)  # after this prefecture's quiet hours, inside the default's
    notice = _round(session, settings, area, "advance_notice", started, monkeypatch)
    (message,) = _family_messages(session, check_of(session, notice.id, patient.id).id, family_phone)
    assert message.next_attempt_at <= started
    assert round_quiet_until(notice.kind, notice.quiet_hours, started, settings) is None
    assert round_quiet_until(notice.kind, notice.quiet_hours, started.replace(hour=5), settings) == started.replace(
        hour=6, minute=0
    )

    # A later change applies to notices started afterwards; this round keeps its rule.
    area.prefecture.quiet_start, area.prefecture.quiet_end = "21:00", "09:00"
    session.add(area.prefecture)
    session.flush()
    assert session.get(SafetyRound, notice.id).quiet_hours["prefectures"][str(area.prefecture.id)] == ["23:00", "06:00"]


def test_a_failover_to_the_family_at_night_waits_for_the_morning(session, settings, area, monkeypatch):
    from bcp_service.outbox.delivery import handle_failures

    patient = add_patient(session, area.city, contacts=2)
    family_phone = session.exec(
        select(PatientContact.phone).where(PatientContact.patient_id == patient.id, PatientContact.kind == "family")
    ).one()
    started = _two_am()
    notice = _round(session, settings, area, "advance_notice", started, monkeypatch)
    check = check_of(session, notice.id, patient.id)
    first = session.exec(select(OutboxMessage).where(OutboxMessage.check_id == check.id)).one()
    first.state = "failed"
    session.add(first)
    session.flush()
    # The number can never take a message (Twilio 21211: an invalid number): fail over to the family.
    handle_failures(session, [(first.id, True, "21211")], now=started + timedelta(minutes=1))
    (to_family,) = _family_messages(session, check.id, family_phone)
    assert to_family.next_attempt_at == datetime(started.year, started.month, started.day, 7, 0, tzinfo=JST)
