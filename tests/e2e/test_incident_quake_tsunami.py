"""One disaster, one conversation: a quake off Chiba, then a tsunami warning for its coast (issue 25).

The bulletins are written for this test in JMA's XML (tests/triggers/bulletins/*_incident_*.xml):
震度6強 in 銚子市 (5強 千葉市, 5弱 成田市), then 津波警報 on 九十九里・外房 (銚子市) and 津波注意報 on
東京湾内湾 (千葉市, 習志野市). They go in through the trigger endpoint, the scheduler's job starts
the rounds, answers come through the answer links, and the board's lists, the nurse page and the
escalation job are read as they would be. Runs on both engines (BCP_TEST_DATABASE_URL).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.board import lists
from bcp_service.board.counts import ViewSpec
from bcp_service.board.live_view import RoundSource
from bcp_service.board.schemas import BoardFilters
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import Incident, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.nurse.service import group_rows, list_my_checks
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, close_round
from bcp_service.triggers.areas import CHIBA_MUNICIPALITIES
from tests.board.conftest import browser_as  # noqa: F401 (fixture)
from tests.factories import create_institution, create_municipality, create_patient, create_prefecture
from tests.triggers.dbsetup import CODES, _borrow, clock, post_bulletin, run_starts, system  # noqa: F401 (fixtures)
from tests.triggers.helpers import CHIBA, CHOSHI, FUNABASHI, NARASHINO, NARITA, at

QUAKE = "vxse53_incident_choshi_quake.xml"
TSUNAMI = "vtse41_incident_chiba_coast.xml"
_phones = itertools.count(10_000_001)


@pytest.fixture
def people(session):
    """Two patients in 銚子市 (quake and tsunami), one each in 千葉市 (both), 成田市 (quake only),
    習志野市 (tsunami only); 船橋市 felt 震度4 (no quake round) and is under the 注意報."""
    prefecture = create_prefecture(session, code="12", name="千葉県")
    towns = {
        code: create_municipality(session, prefecture, code=code, name=CHIBA_MUNICIPALITIES[code]) for code in CODES
    }
    station = create_institution(session, towns[CHIBA], name="千葉訪問看護ステーション", kind="visiting_nurse_station")
    found = {}
    for label, code in (
        ("choshi_a", CHOSHI),
        ("choshi_b", CHOSHI),
        ("chiba", CHIBA),
        ("narita", NARITA),
        ("narashino", NARASHINO),
        ("funabashi", FUNABASHI),
    ):
        found[label] = create_patient(
            session,
            towns[code],
            phones=[f"+8190{next(_phones)}"],
            name=f"患者 {label}",
            visiting_nurse_station_id=station.id,
        )
    session.flush()
    return found, station


def checks_of(session, round_id):
    return {
        c.patient_id: c
        for c in session.exec(
            select(SafetyCheck).where(SafetyCheck.round_id == round_id).execution_options(populate_existing=True)
        ).all()
    }


def messages(session):
    return session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def token_of(session, check_id, template):
    return session.exec(
        select(OutboxMessage.answer_token).where(OutboxMessage.check_id == check_id, OutboxMessage.template == template)
    ).one()


def test_quake_then_tsunami_is_one_incident_with_one_conversation_each(
    system, anon_client, browser_as, session, settings, clock, people
):
    patients, station = people
    assert post_bulletin(system, QUAKE, clock, at(10, 16, 30)).json()["action"] == "schedule_round"
    (quake_id,) = run_starts(session, settings, at(10, 19, 30))
    quake = checks_of(session, quake_id)
    assert {p.id for label, p in patients.items() if label in ("choshi_a", "choshi_b", "chiba", "narita")} == set(quake)

    # 銚子 b answers the quake's link before the tsunami round starts: 無事.
    b = patients["choshi_b"]
    token = token_of(session, quake[b.id].id, "check_initial")
    assert anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "b-1"}).status_code == 200

    decision = post_bulletin(system, TSUNAMI, clock, at(10, 18, 0)).json()
    assert decision["action"] == "schedule_round", decision
    (tsunami_id,) = run_starts(session, settings, at(10, 21, 0))
    quake_round, tsunami_round = session.get(SafetyRound, quake_id), session.get(SafetyRound, tsunami_id)
    session.refresh(quake_round)
    session.refresh(tsunami_round)
    assert quake_round.incident_id is not None and quake_round.incident_id == tsunami_round.incident_id
    incident = session.get(Incident, quake_round.incident_id)
    assert incident.hazards == ["earthquake", "tsunami"] and incident.event_ids == ["20250301101533"]

    tsunami = checks_of(session, tsunami_id)
    both = {patients[label].id for label in ("choshi_a", "choshi_b", "chiba")}
    added = {patients[label].id for label in ("narashino", "funabashi")}
    assert set(tsunami) == both | added
    for patient_id in both:
        assert tsunami[patient_id].follows_check_id == quake[patient_id].id
    # The earlier answer counts in the second round at once.
    assert tsunami[b.id].state == "safe" and tsunami[b.id].last_answer_at is not None

    # Nobody gets the safety-check message twice; the tsunami adds its evacuation question, once.
    sent = messages(session)
    initial = Counter(m.to_number for m in sent if m.template == "check_initial")
    assert set(initial.values()) == {1} and len(initial) == 6
    asked = Counter(m.check_id for m in sent if m.template == "incident_evacuation")
    assert set(asked) == {tsunami[p].id for p in both} and set(asked.values()) == {1}

    # 銚子 a answers the evacuation question in the tsunami round: the quake round hears it too.
    a = patients["choshi_a"]
    evac = token_of(session, tsunami[a.id].id, "incident_evacuation")
    form = {"state": "evacuated", "evacuated_to": "銚子市立第一中学校", "nonce": "a-1"}
    assert anon_client.post(f"/a/{evac}", data=form).status_code == 200
    quake, tsunami = checks_of(session, quake_id), checks_of(session, tsunami_id)
    assert quake[a.id].state == tsunami[a.id].state == "evacuated"
    assert quake[a.id].evacuated_to == "銚子市立第一中学校"
    for round_id in (quake_id, tsunami_id):
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)

    # The boards: in each round's lists a person is there once, and an answer is not 未回答 anywhere.
    admin = Principal(user_id=0, username="admin", role=Role.admin, scope_id=None)
    for round_id in (quake_id, tsunami_id):
        spec = ViewSpec.of(round_id, admin, BoardFilters(), 0)
        names = _names(session, round_id)
        silent = [r.patient_id for r in lists.non_responders(session, spec, names, 100)]
        assert len(silent) == len(set(silent)) and a.id not in silent and b.id not in silent
        listed = [r.patient_id for r in lists.priority_list(session, spec, names, 100)]
        assert len(listed) == len(set(listed))

    # The nurse page: each person once, grouped by the incident, with both rounds named.
    nurse = Principal(user_id=0, username="nurse", role=Role.nurse, scope_id=station.id)
    rows, total = list_my_checks(session=session, principal=nurse)
    assert sorted(r.patient_id for r in rows) == sorted(p.id for p in patients.values()) and total == 6
    (group,) = group_rows(rows)
    assert group.key == f"i{incident.id}" and not group.drill
    chiba_row = next(r for r in rows if r.patient_id == patients["chiba"].id)
    assert [rid for rid, _, _ in chiba_row.rounds] == [quake_id, tsunami_id]

    # The pages: the board names the incident and marks the round 【本番】; the nurse page shows each person once.
    board = browser_as("admin").get(f"/board/rounds/{tsunami_id}").text
    assert 'id="board-incident"' in board and "地震・津波" in board and "【本番】実際の災害" in board
    export = browser_as("admin").get(f"/board/rounds/{tsunami_id}/export.csv?kind=silent")
    assert export.status_code == 200
    exported = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    column = exported[0].index("同じ災害の安否確認")
    names = [row[0] for row in exported[1:]]
    assert len(names) == len(set(names))  # each person once
    chiba_line = next(row for row in exported[1:] if row[0] == "患者 chiba")
    assert chiba_line[column] == f"#{quake_id} #{tsunami_id}"
    nurse_page = browser_as("nurse", station.id).get("/nurse").text
    assert nurse_page.count('class="pt-name"') == 6 and nurse_page.count('class="nurse-group"') == 1
    assert nurse_page.count(">患者 chiba <") + nurse_page.count(">患者 chiba<") <= 1

    # Escalation: 千葉市's person has not answered; one reminder comes, from the conversation's round only.
    session.commit()
    run_escalation(lambda: _borrow(session), settings=settings, now=utcnow() + timedelta(minutes=16))
    reminders = Counter(m.to_number for m in messages(session) if m.template == "check_reminder")
    chiba_phone = session.exec(
        select(OutboxMessage.to_number).where(OutboxMessage.check_id == quake[patients["chiba"].id].id)
    ).first()
    assert reminders[chiba_phone] == 1
    assert set(reminders.values()) == {1}

    # An hour on, still nothing: unreachable in the quake round, and in the tsunami round too.
    run_escalation(lambda: _borrow(session), settings=settings, now=utcnow() + timedelta(minutes=61))
    chiba_id = patients["chiba"].id
    assert (
        checks_of(session, quake_id)[chiba_id].state == checks_of(session, tsunami_id)[chiba_id].state == "unreachable"
    )
    for round_id in (quake_id, tsunami_id):
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)

    # Closing the quake round hands the conversation to the tsunami round's checks.
    close_round(session=session, round_id=quake_id, actor=Actor.system("test"))
    tsunami = checks_of(session, tsunami_id)
    assert all(tsunami[p].follows_check_id is None for p in both)
    rows, _ = list_my_checks(session=session, principal=nurse)
    assert sorted(r.patient_id for r in rows) == sorted(tsunami)


def _names(session, round_id):
    source = RoundSource(round_id)
    source.read(session, advance=False)
    return source.names


def test_an_old_answer_does_not_count_and_the_person_is_asked_again(
    system, anon_client, session, settings, clock, people, monkeypatch
):
    patients, _station = people
    post_bulletin(system, QUAKE, clock, at(10, 16, 30))
    (quake_id,) = run_starts(session, settings, at(10, 19, 30))
    b = patients["choshi_b"]
    quake = checks_of(session, quake_id)
    assert (
        anon_client.post(
            f"/a/{token_of(session, quake[b.id].id, 'check_initial')}", data={"state": "safe", "nonce": "b-1"}
        ).status_code
        == 200
    )
    # The answer is two hours old by the time the tsunami round starts (fresh for a tsunami: 60 minutes).
    session.execute(
        SafetyCheck.__table__.update()
        .where(SafetyCheck.id == quake[b.id].id)
        .values(last_answer_at=utcnow() - timedelta(hours=2))
    )
    post_bulletin(system, TSUNAMI, clock, at(10, 18, 0))
    (tsunami_id,) = run_starts(session, settings, at(10, 21, 0))
    quake, tsunami = checks_of(session, quake_id), checks_of(session, tsunami_id)
    assert tsunami[b.id].follows_check_id is None and tsunami[b.id].state == "no_answer"
    assert quake[b.id].follows_check_id == tsunami[b.id].id
    initial = Counter(m.check_id for m in messages(session) if m.template == "check_initial")
    assert initial[tsunami[b.id].id] == 1  # asked again, in the round that now carries the conversation


def test_contact_budget_holds_a_second_round_outside_any_incident(session, settings, people):
    """Two rounds started by hand for the same town (no incident): the second waits out the budget."""
    from bcp_service.rounds.service import start_round
    from bcp_service.rounds.targets import RoundTarget

    patients, _station = people
    town = patients["narita"].municipality_id
    first, _ = start_round(
        session=session,
        actor=Actor.system("t"),
        target=RoundTarget(municipality_ids=[town]),
        reason="manual",
        drill=False,
        settings=settings,
    )
    second, _ = start_round(
        session=session,
        actor=Actor.system("t"),
        target=RoundTarget(municipality_ids=[town]),
        reason="manual",
        drill=False,
        settings=settings,
    )
    rows = session.exec(
        select(OutboxMessage).where(col(OutboxMessage.round_id).in_([first.id, second.id])).order_by(OutboxMessage.id)
    ).all()
    assert len(rows) == 2
    held = rows[1].next_attempt_at - rows[0].next_attempt_at
    assert held >= timedelta(minutes=settings.contact_budget_minutes) - timedelta(seconds=1)


def test_an_sms_reply_counts_once_in_each_round_of_the_incident(system, session, settings, clock, people):
    from bcp_service.models import CheckAnswer
    from bcp_service.webhooks.inbound import InboundSms, handle_replies

    patients, _station = people
    post_bulletin(system, QUAKE, clock, at(10, 16, 30))
    (quake_id,) = run_starts(session, settings, at(10, 19, 30))
    post_bulletin(system, TSUNAMI, clock, at(10, 18, 0))
    (tsunami_id,) = run_starts(session, settings, at(10, 21, 0))
    chiba = patients["chiba"]
    phone = session.exec(
        select(OutboxMessage.to_number)
        .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
        .where(SafetyCheck.patient_id == chiba.id)
    ).first()
    (result,) = handle_replies(session, [InboundSms("SM-incident-1", phone, None, "1 無事です")])
    assert result.kind == "answered" and result.state == "safe"
    quake, tsunami = checks_of(session, quake_id)[chiba.id], checks_of(session, tsunami_id)[chiba.id]
    assert quake.state == tsunami.state == "safe"
    history = session.exec(
        select(CheckAnswer.check_id).where(col(CheckAnswer.check_id).in_([quake.id, tsunami.id]))
    ).all()
    assert sorted(history) == sorted([quake.id, tsunami.id])  # one row in each round, no copy of a copy
    for round_id in (quake_id, tsunami_id):
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)
