from datetime import timedelta

import pytest
from sqlmodel import select

from bcp_service.answers.routes import parse_hours
from bcp_service.answers.service import record_answer
from bcp_service.models import CheckAnswer, OutboxMessage, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, close_round, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.rounds.conftest import add_patient, area  # noqa: F401  (fixture)


@pytest.fixture
def link(session, settings, area):
    add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[area.city.id]),
        reason="manual",
        drill=True,
        settings=settings,
        title="テスト地震",
    )
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).one()
    return message.answer_token, message, safety_round


def test_page_is_plain_japanese_html_with_drill_label(anon_client, link):
    token, _, _ = link
    page = anon_client.get(f"/a/{token}")
    assert page.status_code == 200
    html = page.text
    assert "【訓練】" in html and "無事です" in html and "停電しています" in html and "テスト地震" in html
    assert "<script" not in html.lower() and 'name="nonce"' in html
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"


def test_answer_by_link_is_recorded_once_per_nonce(anon_client, session, link):
    token, message, safety_round = link
    form = {"state": "power_out", "hours": "３時間", "note": "外部バッテリーあり", "nonce": "n-1"}
    first = anon_client.post(f"/a/{token}", data=form)
    assert first.status_code == 200 and "回答を受け付けました" in first.text and "3.0" in first.text
    assert anon_client.post(f"/a/{token}", data=form).status_code == 200
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()
    assert len(answers) == 1
    assert (answers[0].channel, answers[0].state, answers[0].hours_left, answers[0].answered_by) == (
        "link",
        "power_out",
        3.0,
        "self",
    )
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert check.state == "power_out" and check.hours_left == 3.0
    counters = read_counters(session=session, round_id=safety_round.id)
    assert counters == recount(session=session, round_id=safety_round.id)
    assert counters["risk_tier"]["critical"] == {"power_out": 1}

    changed = anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "n-2"})
    assert changed.status_code == 200
    session.refresh(check)
    assert check.state == "safe" and check.hours_left is None
    assert "現在の回答" in anon_client.get(f"/a/{token}").text


def test_the_page_fills_the_structured_answer_and_keeps_hours_with_transport(anon_client, session, link):
    token, message, _ = link
    html = anon_client.get(f"/a/{token}").text
    assert "入院しています" in html and "避難しています" in html and 'name="hours_unknown"' in html
    form = {"state": "needs_transport", "hours": "2", "power": "out", "needs_admission": "1", "nonce": "s-1"}
    assert anon_client.post(f"/a/{token}", data=form).status_code == 200
    (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()
    assert (answer.state, answer.hours_left, answer.power, answer.needs_transport, answer.needs_admission) == (
        "needs_transport",
        2.0,
        "out",
        True,
        True,
    )
    # Updated: now at a shelter, reserve unknown.
    update = {
        "state": "evacuated",
        "evacuated_to": "第一小学校",
        "hours_unknown": "1",
        "power": "unknown",
        "nonce": "s-2",
    }
    thanks = anon_client.post(f"/a/{token}", data=update).text
    assert "避難済み" in thanks and "残り時間: 不明" in thanks
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert (
        check.state,
        check.evacuated_to,
        check.hours_left,
        check.hours_unknown,
        check.power,
        check.needs_admission,
    ) == ("evacuated", "第一小学校", None, True, "unknown", False)
    assert anon_client.post(f"/a/{token}", data={**update, "power": "maybe", "nonce": "s-3"}).status_code == 422


def test_bad_input_shows_the_form_again(anon_client, link):
    token, _, _ = link
    assert anon_client.post(f"/a/{token}", data={"state": "eaten_by_bear"}).status_code == 422
    bad_hours = anon_client.post(f"/a/{token}", data={"state": "power_out", "hours": "たくさん"})
    assert bad_hours.status_code == 422 and "数字" in bad_hours.text


def test_unknown_and_expired_links(anon_client, session, link):
    token, _, safety_round = link
    assert anon_client.get("/a/not-a-token").status_code == 404
    assert anon_client.get("/a/" + "x" * 200).status_code == 404
    close_round(session=session, round_id=safety_round.id, actor=Actor.system("test"))
    gone = anon_client.get(f"/a/{token}")
    assert gone.status_code == 410 and "終了しました" in gone.text and "【訓練】" in gone.text
    assert anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "x"}).status_code == 410


def test_latest_answer_by_observed_time_wins(session, link):
    _, message, safety_round = link
    now = utcnow()
    record_answer(session=session, check_id=message.check_id, state="safe", channel="link", observed_at=now)
    record_answer(
        session=session,
        check_id=message.check_id,
        state="needs_help",
        channel="sms",
        observed_at=now - timedelta(minutes=5),
    )
    check = session.get(SafetyCheck, message.check_id)
    assert check.state == "safe"
    assert len(session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()) == 2
    assert read_counters(session=session, round_id=safety_round.id) == recount(
        session=session, round_id=safety_round.id
    )


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("", None),
        ("3", 3.0),
        ("２.５", 2.5),
        ("4時間", 4.0),
        ("わからない", None),
        ("分かりません", None),
        ("不明", None),
        ("？", None),
        ("Unknown", None),
    ],
)
def test_parse_hours(text, hours):
    assert parse_hours(text) == hours


@pytest.mark.parametrize("text", ["-1", "1000", "nan", "abc"])
def test_parse_hours_refuses(text):
    with pytest.raises(ValueError):
        parse_hours(text)


def test_answers_by_link_sms_and_voice_are_audit_events(anon_client, session, link):
    from bcp_service.answers.service import NewAnswer, record_answers
    from bcp_service.models import AuditEvent, AuditEventPatient

    token, message, _ = link
    assert anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "n-audit"}).status_code == 200
    assert (
        anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "n-audit"}).status_code == 200
    )  # repeat: one event
    record_answers(
        session=session,
        answers=[
            NewAnswer(
                check_id=message.check_id,
                state="needs_help",
                channel="sms",
                answered_by="family",
                idempotency_key="sms:SMa",
            ),
            NewAnswer(
                check_id=message.check_id,
                state="safe",
                channel="voice",
                answered_by="self",
                idempotency_key="voice:CAa",
            ),
        ],
    )
    events = session.exec(select(AuditEvent).where(AuditEvent.resource == f"check/{message.check_id}")).all()
    assert sorted(e.action for e in events) == ["answer.link", "answer.sms", "answer.voice"]
    sms = next(e for e in events if e.action == "answer.sms")
    assert sms.username == "sms:family" and f"check {message.check_id}" in sms.detail
    patient = session.get(SafetyCheck, message.check_id).patient_id
    linked = session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == sms.id)).all()
    assert linked == [patient]


def test_unknown_hours_are_accepted_and_bad_ones_explained_in_japanese(anon_client, session, link):
    token, message, _ = link
    unknown = anon_client.post(f"/a/{token}", data={"state": "power_out", "hours": "わからない", "nonce": "u-1"})
    assert unknown.status_code == 200 and "回答を受け付けました" in unknown.text
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert check.state == "power_out" and check.hours_left is None
    bad = anon_client.post(f"/a/{token}", data={"state": "power_out", "hours": "たくさん", "nonce": "u-2"})
    assert bad.status_code == 422 and "わからない" in bad.text and "0〜720" in bad.text


def test_a_database_outage_answers_a_japanese_try_again_page_that_keeps_the_choice(
    anon_client, session, link, monkeypatch
):
    import re

    from sqlalchemy.exc import OperationalError

    from bcp_service.answers import routes

    token, message, _ = link
    real = routes.record_link_answers
    outage = {"on": True}

    def flaky(session, answers):
        if outage["on"]:
            raise OperationalError("UPDATE safety_check", {}, ConnectionRefusedError("restarting"))
        return real(session, answers)

    monkeypatch.setattr(routes, "record_link_answers", flaky)
    page = anon_client.post(
        f"/a/{token}", data={"state": "power_out", "hours": "4", "note": "酸素残少", "nonce": "n-9"}
    )
    assert page.status_code == 503 and "混み合っています" in page.text and "Internal Server Error" not in page.text
    assert "停電" in page.text and "あと4時間" in page.text
    kept = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    assert kept == {"nonce": "n-9", "state": "power_out", "hours": "4", "note": "酸素残少"}
    outage["on"] = False
    again = anon_client.post(f"/a/{token}", data=kept)
    assert again.status_code == 200 and "回答を受け付けました" in again.text
    assert anon_client.post(f"/a/{token}", data=kept).status_code == 200  # the same nonce: one answer
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()
    assert len(answers) == 1 and answers[0].state == "power_out"
