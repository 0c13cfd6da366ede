"""Where people said they will stay (advance-notice answers) is shown where hub staff look: the notice
round's board and CSV, the next safety check's lists, the check API and the nurse page; audited,
scoped, and never to the aggregate role."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from bcp_service.models import AuditEvent, AuditEventPatient, OutboxMessage, SafetyCheck
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.board.builders import build_area, phone
from tests.factories import create_patient

PLACE = "〇〇小学校（福祉避難所）"


def _audited(session, action):
    event = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())).first()
    return set(session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all())


def _start(session, settings, area, kind):
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=False,
        reason="manual",
        kind=kind,
        title="台風10号",
        target=RoundTarget(municipality_ids=[area.city.id, area.town.id]),
    )
    return safety_round


def _token(session, round_id, patient_id):
    return (
        session.exec(
            select(OutboxMessage)
            .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
            .where(OutboxMessage.round_id == round_id, SafetyCheck.patient_id == patient_id)
        )
        .one()
        .answer_token
    )


@pytest.fixture
def planned(session, settings, anon_client):
    """A notice round where one patient answers 避難所 and one in the next town 入院; then a safety check."""
    area = build_area(session)
    shelter = create_patient(
        session,
        area.city,
        phones=[phone()],
        name="避難 予定子",
        visiting_nurse_station_id=area.station.id,
        uses_ventilator=True,
        ventilator_mode="invasive",
    )
    silent = create_patient(
        session, area.city, phones=[phone()], name="未回答 一郎", visiting_nurse_station_id=area.station.id
    )
    hospital = create_patient(
        session, area.town, phones=[phone()], name="隣町 入院予定", visiting_nurse_station_id=area.other_station.id
    )
    notice = _start(session, settings, area, "advance_notice")
    session.commit()
    for patient, state, place in ((shelter, "plan_shelter", PLACE), (hospital, "plan_hospital", "県立病院")):
        answered = anon_client.post(
            f"/a/{_token(session, notice.id, patient.id)}",
            data={"state": state, "place": place, "nonce": f"n-{patient.id}"},
        )
        assert answered.status_code == 200
    session.expire_all()
    return area, notice, shelter, silent, hospital


def test_the_notice_rounds_board_lists_planned_stays_and_audits_them(client, session, planned):
    _, notice, shelter, _silent, hospital = planned
    html = client.get(f"/board/rounds/{notice.id}").text
    plans = html.split('id="sec-plans"')[1].split("</section>")[0]
    assert "避難 予定子" in plans and f"避難所（{PLACE}）" in plans and "入院・入所（県立病院）" in plans
    assert "未回答 一郎" not in plans  # nothing said yet
    assert "kind=plans" in html
    audited = _audited(session, "board.view")
    assert {shelter.id, hospital.id} <= audited


def test_the_plans_csv_and_the_people_csv_carry_the_place(client, session, planned):
    _, notice, shelter, _, _ = planned
    response = client.get(f"/board/rounds/{notice.id}/export.csv?kind=plans")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    place, answered = header.index("滞在予定"), header.index("滞在予定の回答")  # by name: columns may be added
    assert answered == place + 1
    by_name = {row[0]: row for row in body}
    assert by_name["避難 予定子"][place] == f"避難所（{PLACE}）" and by_name["避難 予定子"][answered]
    assert set(by_name) == {"避難 予定子", "隣町 入院予定"}
    assert shelter.id in _audited(session, "board.export.plans")


def test_the_next_safety_check_shows_where_they_said_they_would_be(client, session, settings, planned):
    area, _, shelter, silent, _ = planned
    check_round = _start(session, settings, area, "safety_check")
    session.commit()
    html = client.get(f"/board/rounds/{check_round.id}").text
    assert 'id="sec-plans"' not in html  # the notice list is the notice round's
    silent_list = html.split('id="sec-silent"')[1].split("</section>")[0]
    assert f"避難所（{PLACE}）" in silent_list and "滞在予定" in silent_list
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"/board/rounds/{check_round.id}/export.csv?kind=silent").content.decode("utf-8-sig")
            )
        )
    )
    by_name = {row[0]: row for row in rows[1:]}
    place = rows[0].index("滞在予定")  # by name: columns may be added
    assert by_name["避難 予定子"][place] == f"避難所（{PLACE}）" and by_name["未回答 一郎"][place] == ""

    check = session.exec(
        select(SafetyCheck).where(SafetyCheck.round_id == check_round.id, SafetyCheck.patient_id == shelter.id)
    ).one()
    detail = client.get(f"/api/v1/rounds/{check_round.id}/checks/{check.id}").json()
    assert (detail["planned_stay"], detail["planned_stay_place"]) == ("shelter", PLACE)
    assert detail["planned_stay_at"] is not None
    listed = {c["patient_id"]: c for c in client.get(f"/api/v1/rounds/{check_round.id}/checks").json()["items"]}
    assert listed[shelter.id]["planned_stay"] == "shelter" and listed[silent.id]["planned_stay"] is None


def test_a_priority_row_names_the_planned_stay(client, session, settings, planned):
    area, _, shelter, _, _ = planned
    check_round = _start(session, settings, area, "safety_check")
    session.commit()
    token = _token(session, check_round.id, shelter.id)
    client.post(f"/a/{token}", data={"state": "power_out", "hours": "3", "nonce": "p-1"})
    priority = client.get(f"/board/rounds/{check_round.id}").text.split('id="sec-priority"')[1].split("</section>")[0]
    assert "避難 予定子" in priority and f"滞在予定: <strong>避難所（{PLACE}）</strong>" in priority


def test_scope_and_the_aggregate_role(client_as, planned):
    area, notice, _, _, _ = planned
    hub = client_as("hub", area.hub.id).get(f"/board/rounds/{notice.id}").text
    plans = hub.split('id="sec-plans"')[1].split("</section>")[0]
    assert "避難 予定子" in plans and "県立病院" not in plans  # the next town is outside the hub's area
    aggregate = client_as("aggregate")
    html = aggregate.get(f"/board/rounds/{notice.id}").text
    assert 'id="sec-plans"' not in html and PLACE not in html and "避難 予定子" not in html
    assert aggregate.get(f"/board/rounds/{notice.id}/export.csv?kind=plans").status_code == 404


def test_the_nurse_page_shows_the_planned_stay(client_as, planned):
    area, _, _, _, _ = planned
    html = client_as("nurse", area.station.id).get("/nurse").text
    assert "避難 予定子" in html and f"滞在予定 <strong>避難所（{PLACE}）</strong>" in html
    other = client_as("nurse", area.other_station.id).get("/nurse").text
    assert PLACE not in other and "入院・入所（県立病院）" in other
