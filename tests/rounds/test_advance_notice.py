"""Advance-notice rounds (事前連絡): own texts, a page asking where people will stay, answers in the registry."""

import pytest
from sqlmodel import select

from bcp_service.models import OutboxMessage, Patient, SafetyCheck, SafetyRound
from bcp_service.rounds.messages import render_message
from tests.escalation.conftest import POLICY, age, escalate
from tests.rounds.conftest import add_patient, area  # noqa: F401  (fixture)


@pytest.fixture
def settings(settings):
    """These tests run on the real clock: no quiet hours (issue 25.4; tests/escalation/test_quiet_hours.py)."""
    return settings.model_copy(update={"notice_quiet_hours": ("00:00", "00:00")})


def start_notice(client, area, **extra):
    body = {
        "reason": "manual",
        "kind": "advance_notice",
        "drill": False,
        "title": "台風10号の接近に備えて",
        "target": {"municipality_ids": [area.city.id]},
        **extra,
    }
    response = client.post("/api/v1/rounds", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_notice_round_has_its_own_texts_and_page(client, anon_client, session, settings, area):
    patient = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    started = start_notice(client, area)
    assert started["kind"] == "advance_notice"
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == started["id"])).one()
    assert message.template == "notice_initial"
    text = render_message(
        message.template,
        drill=False,
        public_base_url=settings.public_base_url,
        token=message.answer_token,
        sender=settings.sender_name,
        replies=settings.sms_replies,
    )
    assert "事前連絡" in text and "充電" in text and "安否確認" not in text

    page = anon_client.get(f"/a/{message.answer_token}")
    assert page.status_code == 200 and "事前連絡" in page.text and "避難所に移ります" in page.text
    answered = anon_client.post(
        f"/a/{message.answer_token}",
        data={"state": "plan_shelter", "place": "〇〇小学校（福祉避難所）", "nonce": "n-1"},
    )
    assert answered.status_code == 200 and "避難所に移ります" in answered.text
    session.expire_all()
    stored = session.get(Patient, patient.id)
    assert (stored.planned_stay, stored.planned_stay_place) == ("shelter", "〇〇小学校（福祉避難所）")
    assert stored.planned_stay_at is not None
    check = session.get(SafetyCheck, message.check_id)
    assert check.state == "safe"
    shown = client.get(f"/api/v1/patients/{patient.id}").json()
    assert shown["planned_stay"] == "shelter" and shown["planned_stay_place"] == "〇〇小学校（福祉避難所）"


def test_needing_help_to_prepare_is_an_answer_the_board_lists(client, anon_client, session, area):
    add_patient(session, area.city)
    started = start_notice(client, area)
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == started["id"])).one()
    anon_client.post(f"/a/{message.answer_token}", data={"state": "needs_help", "nonce": "n-2"})
    board = client.get(f"/board/rounds/{started['id']}")
    assert board.status_code == 200 and "要支援" in board.text
    bad = anon_client.post(f"/a/{message.answer_token}", data={"state": "plan_moon", "nonce": "n-3"})
    assert bad.status_code == 422


def test_non_confirmers_escalate_with_notice_texts(client, session, settings, area):
    add_patient(session, area.city, phones=["+819011112222", "+819033334444"])
    started = start_notice(client, area)
    safety_round = session.get(SafetyRound, started["id"])
    safety_round.escalation_policy = POLICY
    age(session, safety_round, 61)
    escalate(session, settings)
    templates = [
        m.template
        for m in session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == started["id"]).order_by(OutboxMessage.id)
        )
    ]
    assert templates[0] == "notice_initial"
    assert "notice_reminder" in templates and "notice_family" in templates
    assert not {"check_reminder", "check_family"} & set(templates)


def test_cli_starts_a_notice_round():
    from typer.testing import CliRunner

    from bcp_service.cli import app

    result = CliRunner().invoke(app, ["rounds", "start", "--help"])
    assert "advance_notice" in result.output
