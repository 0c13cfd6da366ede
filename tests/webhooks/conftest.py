import itertools
import time

import pytest
from pydantic import SecretStr
from sqlmodel import select
from twilio.request_validator import RequestValidator

from bcp_service.models import OutboxMessage
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.rounds.conftest import add_patient, area  # noqa: F401  (fixture)

AUTH_TOKEN = "simulator-auth-token"
BASE = "https://bcp.example.jp"
_sids = itertools.count(1)


@pytest.fixture(scope="session")
def settings(settings):
    """The root settings plus a Twilio token, and a public webhook base unlike the test client's host."""
    return settings.model_copy(
        update={
            "twilio_account_sid": "AC5130a7000000000000000000000000a1",
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "webhook_base_url": BASE,
        }
    )


def sid(prefix="SM") -> str:
    return f"{prefix}{next(_sids):032d}"


def post_signed(client, path, params, *, token=AUTH_TOKEN, url=None):
    signature = RequestValidator(token).compute_signature(url or BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def sent_round(session, settings, area):
    """A running round whose single message the worker has sent (provider id recorded)."""
    patient = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=False,
        reason="disaster",
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).one()
    message.state, message.provider_message_id, message.answer_token = "sent", sid(), None
    session.add(message)
    session.flush()
    return safety_round, message, patient


def eventually(check, seconds: float = 30.0) -> bool:
    """Polls ``check`` until it holds (work done on another thread); the deadline is generous, not a timing."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
