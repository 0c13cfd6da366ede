"""The answer page's 503 after an answer that needs help says to call 119 or the clinic (issue 28.2)."""

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bcp_service import db_outage
from bcp_service.answers import routes
from bcp_service.models import OutboxMessage
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.factories import create_institution
from tests.rounds.conftest import add_patient, area  # noqa: F401  (fixture)


@pytest.fixture
def token(session, settings, area):
    clinic = create_institution(session, area.city, name="みどり在宅クリニック", phone="+81432001234")
    add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive", active_institution_id=clinic.id)
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        reason="manual",
        drill=False,
        settings=settings,
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    return session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).one().answer_token


@pytest.fixture
def writes_refused(monkeypatch):
    def refused(session, answers):
        raise OperationalError("UPDATE safety_check", {}, Exception("could not extend file: No space left on device"))

    monkeypatch.setattr(routes, "record_link_answers", refused)
    yield
    db_outage.database_wrote()  # the app's group commit waits for the database: not in the next test


def test_needs_help_names_119_and_the_clinics_number(anon_client, token, writes_refused):
    page = anon_client.post(f"/a/{token}", data={"state": "needs_help", "nonce": "u-1"})
    assert page.status_code == 503 and 'id="urgent-call"' in page.text
    assert 'href="tel:119"' in page.text and "みどり在宅クリニック" in page.text
    assert "043-200-1234" in page.text and 'href="tel:0432001234"' in page.text


def test_a_transport_request_with_a_safe_button_is_urgent_too(anon_client, token, writes_refused):
    page = anon_client.post(f"/a/{token}", data={"state": "safe", "needs_transport": "1", "nonce": "u-2"})
    assert page.status_code == 503 and 'href="tel:119"' in page.text


def test_a_safe_answer_gets_no_alarm(anon_client, token, writes_refused):
    page = anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "u-3"})
    assert page.status_code == 503 and 'id="urgent-call"' not in page.text


def test_without_a_readable_database_the_page_still_says_119(anon_client, token, writes_refused, monkeypatch):
    def unreadable(*, session, token):
        raise OperationalError("SELECT institution", {}, ConnectionRefusedError("the database is down"))

    monkeypatch.setattr(routes, "find_clinic", unreadable)
    page = anon_client.post(f"/a/{token}", data={"state": "needs_transport", "nonce": "u-4"})
    assert page.status_code == 503 and 'href="tel:119"' in page.text
    assert "かかりつけの医療機関・訪問看護ステーションにも電話してください" in page.text
