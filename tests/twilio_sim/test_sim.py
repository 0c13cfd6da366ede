import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bcp_service.twilio_sim import RunningSim
from tests.twilio_sim.support import Receiver

PATIENT = "+819012345678"
SENDER = "BCPTEST"  # an alphanumeric sender ID: Twilio sends SMS to Japan from one
CALLER = "+815011112222"  # calls need a phone number (a Japanese 050 number)


def official_client(sim: RunningSim, token: str | None = None) -> Client:
    client = Client(sim.account_sid, token or sim.auth_token)
    # twilio 9.x builds every URL from the domain's base_url; with no edge or
    # region set it is used as is, so this points the whole Api domain at the sim.
    client.api.base_url = sim.base_url
    return client


def raw_post(sim: RunningSim, resource: str, data: dict[str, str]) -> httpx.Response:
    url = f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/{resource}"
    return httpx.post(url, data=data, auth=(sim.account_sid, sim.auth_token), timeout=5)


def send_with_callback(sim: RunningSim, callback: str) -> httpx.Response:
    data = {"To": PATIENT, "From": SENDER, "Body": "x", "StatusCallback": callback}
    return raw_post(sim, "Messages.json", data)


def assert_signed(sim: RunningSim, hit) -> None:
    validator = RequestValidator(sim.auth_token)
    assert hit.signature
    assert validator.validate(hit.url, hit.params, hit.signature)


def test_official_client_sends_a_message(sim: RunningSim):
    message = official_client(sim).messages.create(
        to=PATIENT, from_=SENDER, body="【安否確認】無事なら1を返信してください"
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.to == PATIENT
    assert message.num_segments == "1"
    assert message.date_created is not None

    (stored,) = sim.messages(to=PATIENT)
    assert stored["sid"] == message.sid
    assert stored["encoding"] == "UCS-2"
    assert sim.stats()["accepted"] == 1


def test_japanese_text_is_counted_in_ucs2_segments(sim: RunningSim):
    client = official_client(sim)
    assert client.messages.create(to=PATIENT, from_=SENDER, body="あ" * 70).num_segments == "1"
    assert client.messages.create(to=PATIENT, from_=SENDER, body="あ" * 71).num_segments == "2"
    assert client.messages.create(to=PATIENT, from_=SENDER, body="a" * 160).num_segments == "1"


def test_messaging_service_picks_the_sender(sim: RunningSim):
    message = official_client(sim).messages.create(to=PATIENT, messaging_service_sid="MG" + "0" * 32, body="test")
    assert message.from_ is None and message.status == "accepted"  # a Messaging Service send, not "queued"
    assert message.messaging_service_sid == "MG" + "0" * 32
    assert sim.messages()[0]["from"] == sim.state.config.messaging_service_from


def test_wrong_credentials_get_twilio_401(sim: RunningSim):
    with pytest.raises(TwilioRestException) as caught:
        official_client(sim, token="wrong").messages.create(to=PATIENT, from_=SENDER, body="x")
    assert caught.value.status == 401
    assert caught.value.code == 20003
    assert sim.stats()["rejected_auth"] == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": PATIENT, "From": SENDER}, 21602),
        ({"To": PATIENT, "Body": "x"}, 21603),
    ],
)
def test_missing_fields_are_rejected(sim: RunningSim, data, code):
    response = raw_post(sim, "Messages.json", data)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_rate_limit_answers_20429(sim: RunningSim):
    sim.configure(rate_limit_per_second=1)
    client = official_client(sim)
    client.messages.create(to=PATIENT, from_=SENDER, body="first")
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PATIENT, from_=SENDER, body="second")
    assert caught.value.status == 429
    assert caught.value.code == 20429

    response = raw_post(sim, "Messages.json", {"To": PATIENT, "From": SENDER, "Body": "x"})
    assert response.status_code == 429
    assert response.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert float(response.headers["Retry-After"]) >= 1
    assert sim.stats()["rejected_429"] == 2


def test_permanent_failure_numbers_get_21211(sim: RunningSim):
    sim.configure(permanent_failure_numbers={PATIENT})
    client = official_client(sim)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PATIENT, from_=SENDER, body="x")
    assert caught.value.status == 400
    assert caught.value.code == 21211
    client.messages.create(to="+819000000000", from_=SENDER, body="x")
    assert sim.stats()["failed"] == 1
    assert sim.stats()["accepted"] == 1


def test_transient_failure_rate_answers_500(sim: RunningSim):
    sim.configure(transient_failure_rate=1.0)
    response = raw_post(sim, "Messages.json", {"To": PATIENT, "From": SENDER, "Body": "x"})
    assert response.status_code == 500
    assert response.json()["code"] == 20500


def test_status_callbacks_arrive_signed_and_in_order(sim: RunningSim, receiver: Receiver):
    callback = f"{receiver.base_url}/status?round=7"
    message = official_client(sim).messages.create(to=PATIENT, from_=SENDER, body="x", status_callback=callback)
    assert sim.flush_callbacks() == 0
    hits = receiver.on("status")
    assert [hit.params["MessageStatus"] for hit in hits] == ["sent", "delivered"]
    for hit in hits:
        assert hit.url == callback
        assert hit.params["MessageSid"] == hit.params["SmsSid"] == message.sid
        assert hit.params["AccountSid"] == sim.account_sid
        assert hit.params["To"] == PATIENT and hit.params["From"] == SENDER
        assert "ErrorCode" not in hit.params
        assert_signed(sim, hit)

    validator = RequestValidator(sim.auth_token)
    forged = {**hits[0].params, "MessageStatus": "delivered"}
    assert not validator.validate(hits[0].url, forged, hits[0].signature)
    assert sim.stats()["callbacks_sent"] == 2


def test_out_of_order_mode_reverses_callbacks(sim: RunningSim, receiver: Receiver):
    sim.configure(out_of_order_rate=1.0)
    send_with_callback(sim, receiver.base_url + "/status")
    sim.flush_callbacks()
    assert [hit.params["MessageStatus"] for hit in receiver.on("status")] == ["delivered", "sent"]
    (stored,) = sim.messages()
    assert stored["status"] == "delivered"
    assert [cb["status"] for cb in stored["callbacks"]] == ["delivered", "sent"]


def test_undelivered_callbacks_carry_error_30003(sim: RunningSim, receiver: Receiver):
    sim.configure(undelivered_rate=1.0)
    send_with_callback(sim, receiver.base_url + "/status")
    sim.flush_callbacks()
    hits = receiver.on("status")
    assert [hit.params["MessageStatus"] for hit in hits] == ["sent", "undelivered"]
    assert hits[1].params["ErrorCode"] == "30003"
    assert "ErrorCode" not in hits[0].params
    assert_signed(sim, hits[1])


def test_failed_callbacks_are_counted(sim: RunningSim, receiver: Receiver):
    send_with_callback(sim, receiver.base_url + "/broken")
    sim.flush_callbacks()
    assert sim.stats()["callbacks_failed"] == 2


def test_call_presses_digits_on_gather(sim: RunningSim, receiver: Receiver):
    sim.configure(voice_answers={PATIENT: "3"})
    call = official_client(sim).calls.create(
        to=PATIENT,
        from_=CALLER,
        url=f"{receiver.base_url}/voice/call",
        status_callback=f"{receiver.base_url}/voice/status",
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34
    sim.flush_callbacks()

    (fetch,) = receiver.on("voice/call")
    assert fetch.params["CallStatus"] == "in-progress"
    assert fetch.params["CallSid"] == call.sid
    assert_signed(sim, fetch)

    (answer,) = receiver.on("voice/answer")
    assert answer.url == f"{receiver.base_url}/voice/answer"
    assert answer.params["Digits"] == "3"
    assert answer.params["CallSid"] == call.sid
    assert answer.params["To"] == PATIENT
    assert_signed(sim, answer)

    (status,) = receiver.on("voice/status")
    assert status.params["CallStatus"] == "completed"
    assert_signed(sim, status)

    (stored,) = sim.calls()
    assert stored["digits_sent"] == "3"
    assert stored["status"] == "completed"


def test_unlisted_numbers_press_the_default_digits(sim: RunningSim, receiver: Receiver):
    sim.configure(default_voice_digits="2")
    call = {"To": PATIENT, "From": CALLER, "Url": receiver.base_url + "/voice/call"}
    raw_post(sim, "Calls.json", call)
    sim.flush_callbacks()
    assert [hit.params["Digits"] for hit in receiver.on("voice/answer")] == ["2"]


def test_unanswered_call_reports_no_answer(sim: RunningSim, receiver: Receiver):
    sim.configure(voice_answers={PATIENT: None})
    raw_post(
        sim,
        "Calls.json",
        {
            "To": PATIENT,
            "From": CALLER,
            "Url": f"{receiver.base_url}/voice/call",
            "StatusCallback": f"{receiver.base_url}/voice/status",
        },
    )
    sim.flush_callbacks()
    assert receiver.on("voice/call") == []
    (status,) = receiver.on("voice/status")
    assert status.params["CallStatus"] == "no-answer"
    assert_signed(sim, status)
    assert sim.calls()[0]["status"] == "no-answer"


def test_call_needs_a_url(sim: RunningSim):
    response = raw_post(sim, "Calls.json", {"To": PATIENT, "From": CALLER})
    assert response.status_code == 400
    assert response.json()["code"] == 21205


def test_inbound_sms_is_posted_signed(sim: RunningSim, receiver: Receiver):
    sim.configure(inbound_webhook_url=f"{receiver.base_url}/sms/inbound")
    result = sim.inbound(from_=PATIENT, to=CALLER, body="停電 あと3時間")
    assert result["status_code"] == 200
    (hit,) = receiver.on("sms/inbound")
    assert hit.params["Body"] == "停電 あと3時間"
    assert hit.params["From"] == PATIENT and hit.params["To"] == CALLER
    assert hit.params["NumMedia"] == "0"
    assert hit.params["MessageSid"] == result["message_sid"]
    assert_signed(sim, hit)
    assert sim.messages()[0]["direction"] == "inbound"


def test_inbound_without_webhook_is_a_conflict(sim: RunningSim):
    sms = {"from": PATIENT, "to": CALLER, "body": "1"}
    response = httpx.post(f"{sim.base_url}/_sim/inbound", json=sms)
    assert response.status_code == 409


def test_inspection_filter_stats_and_reset(sim: RunningSim):
    for number in (PATIENT, "+819000000001", PATIENT):
        raw_post(sim, "Messages.json", {"To": number, "From": SENDER, "Body": "x"})
    assert len(sim.messages(to=PATIENT)) == 2
    assert len(sim.messages(limit=1)) == 1
    assert sim.stats()["accepted"] == 3
    sim.reset()
    assert sim.messages() == []
    assert sim.stats()["accepted"] == 0


def test_config_rejects_unknown_fields(sim: RunningSim):
    response = httpx.post(f"{sim.base_url}/_sim/config", json={"latncy_ms": 5})
    assert response.status_code == 422
    assert sim.configure(latency_ms=5)["latency_ms"] == 5


def test_records_are_bounded(sim: RunningSim):
    sim.configure(max_records=2)
    for _ in range(4):
        raw_post(sim, "Messages.json", {"To": PATIENT, "From": SENDER, "Body": "x"})
    response = httpx.get(f"{sim.base_url}/_sim/messages").json()
    assert response["total"] == 2
    assert sim.stats()["accepted"] == 4


def test_the_auth_token_is_not_served_and_a_placeholder_token_stays_on_loopback(sim):
    config = httpx.get(f"{sim.base_url}/_sim/config", timeout=5).json()
    assert "auth_token" not in config and sim.auth_token not in str(config)
    changed = httpx.post(f"{sim.base_url}/_sim/config", json={"latency_ms": 0}, timeout=5).json()
    assert "auth_token" not in changed

    from bcp_service.twilio_sim.config import SimConfig
    from bcp_service.twilio_sim.server import check_bind

    for host in ("0.0.0.0", "192.0.2.10", "::"):
        with pytest.raises(SystemExit):
            check_bind(host, SimConfig())
    check_bind("127.0.0.1", SimConfig())
    check_bind("0.0.0.0", SimConfig(auth_token="a-random-token-for-this-run"))


def test_the_demo_draws_its_own_token():
    from bcp_service.cli.demo_sending import demo_sending_env
    from bcp_service.twilio_sim.config import PLACEHOLDER_AUTH_TOKEN

    first, second = demo_sending_env(8099)["BCP_TWILIO_AUTH_TOKEN"], demo_sending_env(8099)["BCP_TWILIO_AUTH_TOKEN"]
    assert first != second and PLACEHOLDER_AUTH_TOKEN not in (first, second) and len(first) >= 32


def test_the_cli_refuses_a_public_address_with_the_placeholder_token(monkeypatch):
    from typer.testing import CliRunner

    from bcp_service.cli import app

    monkeypatch.delenv("BCP_TWILIO_AUTH_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["twilio-sim", "--host", "0.0.0.0", "--port", "18190"])
    assert result.exit_code != 0 and "loopback" in str(result.exception) + result.output


def test_callbacks_posted_twice_reach_both_processes_behind_the_public_url(sim: RunningSim, receiver: Receiver):
    public = "https://bcp.example.jp/webhooks/twilio/status"
    sim.configure(
        out_of_order_rate=1.0,
        callback_copies=2,
        callback_targets=[f"{receiver.base_url}/one", f"{receiver.base_url}/two"],
    )
    send_with_callback(sim, public)
    sim.flush_callbacks()
    for process in ("one", "two"):
        hits = receiver.on(f"{process}/webhooks/twilio/status")
        assert sorted(hit.params["MessageStatus"] for hit in hits) == ["delivered", "sent"]
        for hit in hits:  # signed over the public URL, as Twilio signs what it was given
            assert RequestValidator(sim.auth_token).validate(public, hit.params, hit.signature)
    (stored,) = sim.messages()
    assert [cb["status"] for cb in stored["callbacks"]] == ["delivered", "delivered", "sent", "sent"]
