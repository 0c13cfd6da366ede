"""The simulator as Twilio, driven by the official ``twilio`` client and checked against Twilio's schemas.

The client keeps its real base URL (https://api.twilio.com); a ``TwilioHttpClient`` subclass
rewrites the host to the simulator on loopback, so every URL the client builds (and every
``next_page_uri`` it follows) is the one it would use against Twilio.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bcp_service.twilio_sim import RunningSim
from tests.twilio_sim.schemas import component, validator
from tests.twilio_sim.support import Receiver

MOBILE, LANDLINE = "+819012345678", "+81312345678"
SENDER_ID, CALLER_ID = "BCPTEST", "+815011112222"


class LoopbackHttpClient(TwilioHttpClient):
    """Sends what the client addresses to api.twilio.com to the simulator instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._target = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        assert parts.netloc == "api.twilio.com", url  # nothing else is ever addressed
        url = urlunsplit((self._target.scheme, self._target.netloc, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def client(sim: RunningSim) -> Client:
    return Client(sim.account_sid, sim.auth_token, http_client=LoopbackHttpClient(sim.base_url))


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_create_fetch_and_list_messages(client: Client, sim: RunningSim):
    created = client.messages.create(to=MOBILE, from_=SENDER_ID, body="【神奈川県】安否確認です")
    assert created.sid.startswith("SM") and len(created.sid) == 34 and created.status == "queued"
    assert created.account_sid == sim.account_sid and created.num_segments == "1"
    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.from_, fetched.body) == (
        created.sid,
        MOBILE,
        SENDER_ID,
        "【神奈川県】安否確認です",
    )
    assert fetched.status == "delivered" and fetched.date_sent is not None  # the simulator's default outcome
    others = [
        client.messages.create(to=f"+8190{n:08d}", from_=SENDER_ID, body="x").sid for n in range(10000001, 10000006)
    ]
    listed = client.messages.list(page_size=2)  # three pages: the client follows next_page_uri
    assert [m.sid for m in listed] == [*reversed(others), created.sid]
    assert [m.sid for m in client.messages.list(to=MOBILE)] == [created.sid]
    assert len(client.messages.list(limit=3)) == 3
    with pytest.raises(TwilioRestException) as missing:
        client.messages("SM" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


def test_create_fetch_and_list_calls_with_a_url_and_with_inline_twiml(
    client: Client, sim: RunningSim, receiver: Receiver
):
    sim.configure(voice_answers={MOBILE: "3", LANDLINE: "1"})
    by_url = client.calls.create(to=MOBILE, from_=CALLER_ID, url=f"{receiver.base_url}/voice/call")
    inline = client.calls.create(
        to=LANDLINE,
        from_=CALLER_ID,
        twiml=f'<Response><Gather numDigits="1" action="{receiver.base_url}/inline/answer">'
        '<Say voice="Polly.Mizuki" language="ja-JP">無事なら1を押してください</Say></Gather></Response>',
    )
    assert by_url.sid.startswith("CA") and inline.sid.startswith("CA") and by_url.status == "queued"
    assert sim.flush_callbacks() == 0
    assert client.calls(by_url.sid).fetch().status == "completed"
    fetched = client.calls(inline.sid).fetch()
    assert (fetched.status, fetched.to, fetched._from) == ("completed", LANDLINE, CALLER_ID)
    # A call with a URL fetches its TwiML; both press their digits and post Digits to the Gather's action.
    assert receiver.on("voice/call")[0].params["CallSid"] == by_url.sid
    assert receiver.on("voice/answer")[0].params["Digits"] == "3"
    (pressed,) = receiver.on("inline/answer")
    assert (pressed.params["Digits"], pressed.params["CallSid"]) == ("1", inline.sid)
    (record,) = [c for c in sim.calls() if c["sid"] == inline.sid]
    assert record["said"] == [{"voice": "Polly.Mizuki", "language": "ja-JP", "text": "無事なら1を押してください"}]
    assert [c.sid for c in client.calls.list()] == [inline.sid, by_url.sid]
    assert [c.sid for c in client.calls.list(to=MOBILE)] == [by_url.sid]


def test_japanese_number_rules(client: Client, sim: RunningSim):
    with pytest.raises(TwilioRestException) as landline:
        client.messages.create(to=LANDLINE, from_=SENDER_ID, body="x")
    assert (landline.value.status, landline.value.code) == (400, 21614)
    with pytest.raises(TwilioRestException) as japanese_sender:
        client.messages.create(to=MOBILE, from_=CALLER_ID, body="x")
    assert japanese_sender.value.code == 21606  # Twilio has no SMS-capable Japanese numbers
    with pytest.raises(TwilioRestException) as sender_id_call:
        client.calls.create(to=MOBILE, from_=SENDER_ID, url="http://127.0.0.1:9/voice")
    assert sender_id_call.value.code == 21212  # a call needs a phone number
    # A landline is called, a Messaging Service texts a mobile.
    sim.configure(voice_answers={LANDLINE: None})
    assert client.calls.create(to=LANDLINE, from_=CALLER_ID, url="http://127.0.0.1:9/voice").sid.startswith("CA")
    service = "MG" + "a" * 32
    assert client.messages.create(to=MOBILE, messaging_service_sid=service, body="x").messaging_service_sid == service


def _get(sim: RunningSim, path: str, **params) -> httpx.Response:
    return httpx.get(
        f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/{path}",
        params=params,
        auth=(sim.account_sid, sim.auth_token),
        timeout=5,
    )


def _post(sim: RunningSim, path: str, data: dict) -> httpx.Response:
    return httpx.post(
        f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/{path}",
        data=data,
        auth=(sim.account_sid, sim.auth_token),
        timeout=5,
    )


def _valid(resource: str, method: str, status: str, body: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(resource, method, status).iter_errors(body)]
    assert errors == []


@pytest.mark.parametrize(
    ("kind", "schema"), [("Messages", "api.v2010.account.message"), ("Calls", "api.v2010.account.call")]
)
def test_responses_follow_twilios_schemas(sim: RunningSim, kind: str, schema: str):
    sim.configure(voice_answers={MOBILE: None})
    form = (
        {"To": MOBILE, "From": SENDER_ID, "Body": "【在宅医療】安否確認"}
        if kind == "Messages"
        else {"To": MOBILE, "From": CALLER_ID, "Twiml": "<Response><Hangup/></Response>"}
    )
    created = _post(sim, f"{kind}.json", form)
    assert created.status_code == 201
    _valid(f"{kind}.json", "post", "201", created.json())
    # Every property Twilio's schema names is there, and nothing it does not name.
    assert set(created.json()) == set(component(schema)["properties"])
    assert sim.flush_callbacks() == 0
    fetched = _get(sim, f"{kind}/{created.json()['sid']}.json")
    _valid(f"{kind}/{{Sid}}.json", "get", "200", fetched.json())
    assert set(fetched.json()) == set(component(schema)["properties"])
    listed = _get(sim, f"{kind}.json", PageSize=1)
    _valid(f"{kind}.json", "get", "200", listed.json())
    assert listed.json()["page_size"] == 1 and listed.json()["next_page_uri"] is None


def test_the_schemas_do_catch_a_wrong_response():
    bad = {"sid": "SMnot-a-sid", "account_sid": "ACsimulator", "num_segments": 2, "status": "lost"}
    wrong = {tuple(e.absolute_path) for e in validator("Messages/{Sid}.json", "get", "200").iter_errors(bad)}
    assert wrong == {("sid",), ("account_sid",), ("num_segments",), ("status",)}


def test_the_default_account_sid_matches_twilios_pattern(sim: RunningSim):
    assert component("api.v2010.account.message")["properties"]["account_sid"]["pattern"] == "^AC[0-9a-fA-F]{32}$"
    assert re.fullmatch(r"AC[0-9a-fA-F]{32}", sim.account_sid)
