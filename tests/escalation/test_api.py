"""The follow-up queue, assignment, a check's escalation, the round's escalation and the report CSV."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from bcp_service.answers.service import record_answer
from bcp_service.models import AuditEvent, User
from tests.escalation.conftest import add_patient, age, check_of, escalate, start
from tests.factories import create_user, refuse


@pytest.fixture
def gave_up(session, settings, area):
    """A running round whose two silent patients are unreachable; a third answered."""
    critical = add_patient(
        session, area.city, uses_ventilator=True, ventilator_mode="invasive", address="千葉市中央区1-1"
    )
    standard = add_patient(session, area.city, contacts=2)
    answered = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    record_answer(
        session=session,
        check_id=check_of(session, safety_round.id, answered.id).id,
        state="power_out",
        channel="sms",
        hours_left=3,
    )
    age(session, safety_round, 61)
    escalate(session, settings)
    return safety_round, critical, standard, answered


def test_follow_up_queue_lists_unreachable_checks_most_urgent_first(client, session, gave_up):
    safety_round, critical, standard, _ = gave_up
    page = client.get(f"/api/v1/rounds/{safety_round.id}/follow-up")
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [i["patient_id"] for i in items] == [critical.id, standard.id]
    assert items[0]["risk_tier"] == "critical" and items[0]["address"] == "千葉市中央区1-1"
    assert items[0]["unreachable_at"] and items[0]["assigned_user_id"] is None
    assert [p["kind"] for p in items[1]["phones"]] == ["self", "family"]
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "round.follow_up.list")).one()
    assert audited.patient_count == 2


def test_assigning_a_check_to_a_nurse(client, client_as, session, area, gave_up):
    safety_round, critical, standard, _ = gave_up
    nurse = create_user(session, "nurse", area.station.id)
    check = check_of(session, safety_round.id, critical.id)
    response = client.post(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/assign", json={"user_id": nurse.id})
    assert response.status_code == 200, response.text
    assert response.json()["assigned_user_id"] == nurse.id
    assert [e["kind"] for e in response.json()["events"]][-1] == "assigned"
    assert client.get(f"/api/v1/rounds/{safety_round.id}/follow-up?assigned=false").json()["total"] == 1

    admin = create_user(session, "admin")
    refused = client.post(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/assign", json={"user_id": admin.id})
    assert refused.status_code == 422 and "nurse" in refused.text
    # Nurses see only their station's patients (and those assigned to them).
    other = client_as("nurse", area.station.id + 1000)
    assert other.get(f"/api/v1/rounds/{safety_round.id}/follow-up").status_code == 404  # not a round of theirs
    standard_check = check_of(session, safety_round.id, standard.id)
    station_nurse = client_as("nurse", area.station.id)
    assert (
        station_nurse.post(
            f"/api/v1/rounds/{safety_round.id}/checks/{standard_check.id}/assign", json={"user_id": nurse.id}
        ).status_code
        == 404
    )


def test_a_nurse_takes_a_check_and_gives_it_back(client_as, session, area, gave_up):
    safety_round, critical, _, _ = gave_up
    session.get(type(critical), critical.id).visiting_nurse_station_id = area.station.id
    session.flush()
    nurse_client = client_as("nurse", area.station.id)
    check = check_of(session, safety_round.id, critical.id)
    me = nurse_client.get(f"/api/v1/rounds/{safety_round.id}/follow-up").json()
    assert [i["check_id"] for i in me["items"]] == [check.id]
    nurse_user = session.exec(select(User).where(User.role == "nurse", User.scope_id == area.station.id)).first()
    colleague = create_user(session, "nurse", area.station.id)
    refused = nurse_client.post(
        f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/assign", json={"user_id": colleague.id}
    )
    assert refused.status_code == 422 and "only themselves" in refused.text
    taken = nurse_client.post(
        f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/assign", json={"user_id": nurse_user.id}
    )
    assert taken.status_code == 200 and taken.json()["assigned_user_id"] == nurse_user.id
    assert nurse_client.get(f"/api/v1/rounds/{safety_round.id}/follow-up?mine=true").json()["total"] == 1
    back = nurse_client.post(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/assign", json={"user_id": None})
    assert [e["kind"] for e in back.json()["events"]][-2:] == ["assigned", "unassigned"]


def test_check_and_round_escalation_views(client, session, settings, area):
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    age(session, safety_round, 16)
    escalate(session, settings)
    check = check_of(session, safety_round.id, patient.id)
    view = client.get(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/escalation").json()
    assert view["escalation_step"] == 1 and view["next_action"] == "family" and view["next_action_at"]
    assert [(e["step"], e["action"]) for e in view["events"]] == [(1, "resend")]
    detail = client.get(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}").json()
    assert detail["escalation_step"] == 1
    assert [(e["step"], e["action"], e["messages"]) for e in detail["escalation"]] == [(1, "resend", 1)]
    assert [m["state"] for m in detail["messages"]] == ["queued", "queued"]
    summary = client.get(f"/api/v1/rounds/{safety_round.id}/escalation").json()
    assert [s["action"] for s in summary["steps"]] == ["resend", "family", "call", "unreachable"]
    assert summary["taken"] == {"resend": 1} and summary["running"] is True and summary["follow_up"] == 0
    client.post(f"/api/v1/rounds/{safety_round.id}/close")
    closed = client.get(f"/api/v1/rounds/{safety_round.id}/checks/{check.id}/escalation").json()
    assert closed["next_action"] is None and closed["next_action_at"] is None


def test_report_csv_has_every_check_with_answers_and_steps(client, session, gave_up):
    safety_round, critical, _standard, answered = gave_up
    response = client.get(f"/api/v1/rounds/{safety_round.id}/report.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["安否確認ID", "訓練", "対象ID"] and len(body) == 3
    by_patient = {int(r[3]): dict(zip(header, r, strict=False)) for r in body}
    assert by_patient[answered.id]["状態"] == "停電" and "停電 残り3時間 (sms)" in by_patient[answered.id]["回答履歴"]
    assert by_patient[answered.id]["エスカレーション履歴"] == ""
    unreachable = by_patient[critical.id]
    assert unreachable["状態"] == "連絡不能" and unreachable["段階"] == "4"
    assert [part.split(" ")[2] for part in unreachable["エスカレーション履歴"].split(" / ")] == [
        "1.再送",
        "2.家族へ連絡",
        "3.音声電話",
        "4.連絡不能（看護師へ）",
        "4.当番電話へ呼び出し（重症・連絡不能）",
    ]  # oncall: the critical one pages
    assert int(unreachable["送信数"]) == 3  # first message, resend, call
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "round.report.export")).one().patient_count == 3


def test_report_is_scoped(client_as, session, gave_up, area):
    safety_round, *_ = gave_up
    outsider = client_as("hub", area.hub.id + 1000)
    # A round with none of the caller's patients is not the caller's to see (rounds.visibility).
    assert outsider.get(f"/api/v1/rounds/{safety_round.id}/report.csv").status_code == 404
    assert client_as("aggregate").get(f"/api/v1/rounds/{safety_round.id}/report.csv").status_code == 403


def test_follow_up_lists_only_numbers_a_person_can_call(client, session, gave_up):
    """A landline that refused SMS stays on the call list; a number that refused calls does not."""
    from bcp_service.models import PatientContact

    safety_round, _, standard, _ = gave_up
    own, family = session.exec(
        select(PatientContact).where(PatientContact.patient_id == standard.id).order_by(PatientContact.position)
    ).all()
    refuse(session, own.id, "sms")
    refuse(session, family.id, "voice")
    items = client.get(f"/api/v1/rounds/{safety_round.id}/follow-up").json()["items"]
    assert [p["phone"] for p in items[1]["phones"]] == [own.phone]
