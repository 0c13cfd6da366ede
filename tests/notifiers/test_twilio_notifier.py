import base64
import socket

import httpx
import pytest

from bcp_service.twilio_sim import RunningSim
from notifiers import (
    NotifierError,
    PermanentSendError,
    SendResult,
    SmsNotifier,
    TransientSendError,
    TwilioNotifier,
    VoiceNotifier,
)

PATIENT = "+819012345678"
SENDER = "BCPTEST"  # an alphanumeric sender ID (SMS to Japan)
CALLER = "+815011112222"  # a 050 number: the caller ID of calls


def notifier_for(sim: RunningSim, **options) -> TwilioNotifier:
    options.setdefault("from_number", SENDER)
    options.setdefault("caller_id", CALLER)
    options.setdefault("auth_token", sim.auth_token)
    return TwilioNotifier(sim.account_sid, base_url=sim.base_url, **options)


async def test_sends_through_the_simulator(sim: RunningSim):
    async with notifier_for(sim) as notifier:
        result = await notifier.send_sms(
            to=PATIENT, body="【安否確認】1:無事 2:助けて", status_callback="http://127.0.0.1:9/cb"
        )
    assert result.provider_id.startswith("SM")
    assert result.status == "queued"
    (stored,) = sim.messages(to=PATIENT)
    assert stored["sid"] == result.provider_id
    assert stored["from"] == SENDER
    assert stored["body"] == "【安否確認】1:無事 2:助けて"
    assert stored["status_callback"] == "http://127.0.0.1:9/cb"


async def test_messaging_service_is_sent_instead_of_from(sim: RunningSim):
    async with notifier_for(sim, from_number=None, messaging_service_sid="MG" + "1" * 32) as n:
        await n.send_sms(to=PATIENT, body="x")
    assert sim.messages()[0]["messaging_service_sid"] == "MG" + "1" * 32


async def test_places_a_call(sim: RunningSim):
    sim.configure(voice_answers={PATIENT: None})
    async with notifier_for(sim) as notifier:
        result = await notifier.place_call(to=PATIENT, twiml_url="http://127.0.0.1:9/voice")
    assert result.provider_id.startswith("CA")
    assert sim.calls()[0]["url"] == "http://127.0.0.1:9/voice"


async def test_rate_limit_is_transient_with_retry_after(sim: RunningSim):
    sim.configure(rate_limit_per_second=1)
    async with notifier_for(sim) as notifier:
        await notifier.send_sms(to=PATIENT, body="x")
        with pytest.raises(TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code == "20429"
    assert caught.value.retry_after == 1.0


async def test_invalid_number_is_a_bad_contact(sim: RunningSim):
    sim.configure(permanent_failure_numbers={PATIENT})
    async with notifier_for(sim) as notifier:
        with pytest.raises(PermanentSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code == "21211"
    assert caught.value.bad_contact is True
    # Twilio's own message quotes the number; ours must not, since errors get logged.
    assert PATIENT not in str(caught.value)


async def test_server_error_is_transient(sim: RunningSim):
    sim.configure(transient_failure_rate=1.0)
    async with notifier_for(sim) as notifier:
        with pytest.raises(TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code == "20500"


async def test_timeout_is_transient(sim: RunningSim):
    sim.configure(latency_ms=300)
    async with notifier_for(sim, timeout=0.05) as notifier:
        with pytest.raises(TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code is None
    assert "timeout" in str(caught.value)


async def test_wrong_token_is_permanent_but_not_a_bad_contact(sim: RunningSim):
    async with notifier_for(sim, auth_token="wrong") as notifier:
        with pytest.raises(PermanentSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code == "20003"
    assert caught.value.bad_contact is False


async def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with TwilioNotifier("ACx", "token", from_number=SENDER, base_url=f"http://127.0.0.1:{port}") as notifier:
        with pytest.raises(TransientSendError):
            await notifier.send_sms(to=PATIENT, body="x")


def mocked(status: int, payload=None, headers=None) -> TwilioNotifier:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=payload, headers=headers)

    return TwilioNotifier("ACx", "token", from_number=SENDER, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "payload", "headers", "kind", "code", "bad_contact"),
    [
        (400, {"code": 21211}, None, PermanentSendError, "21211", True),
        (400, {"code": 21614}, None, PermanentSendError, "21614", True),
        (400, {"code": 21610}, None, PermanentSendError, "21610", True),
        (401, {"code": 20003}, None, PermanentSendError, "20003", False),
        (403, {"code": 20003}, None, PermanentSendError, "20003", False),
        (400, {"code": 21602}, None, PermanentSendError, "21602", False),
        (404, None, None, PermanentSendError, None, False),
        (429, None, None, TransientSendError, "20429", None),
        (400, {"code": 20429}, None, TransientSendError, "20429", None),
        (400, {"code": 21611}, None, TransientSendError, "21611", None),  # queue full: backpressure
        (503, {"code": 20503}, {"Retry-After": "7"}, TransientSendError, "20503", None),
        (502, None, None, TransientSendError, None, None),
    ],
)
async def test_error_mapping(status, payload, headers, kind, code, bad_contact):
    async with mocked(status, payload, headers) as notifier:
        with pytest.raises(kind) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.code == code
    if bad_contact is not None:
        assert caught.value.bad_contact is bad_contact


async def test_retry_after_as_http_date_and_header_passthrough():
    async with mocked(429, None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) as notifier:
        with pytest.raises(TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.retry_after == 0.0
    async with mocked(503, None, {"Retry-After": "2.5"}) as notifier:
        with pytest.raises(TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert caught.value.retry_after == 2.5


async def test_success_without_sid_is_not_retried_blindly():
    async with mocked(201, {"status": "queued"}) as notifier:
        with pytest.raises(NotifierError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert not isinstance(caught.value, (TransientSendError, PermanentSendError))


async def test_request_shape():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    async with TwilioNotifier(
        "ACabc", "secret", from_number=SENDER, transport=httpx.MockTransport(handler)
    ) as notifier:
        assert await notifier.send_sms(to=PATIENT, body="あ", status_callback="https://x/cb") == (
            SendResult("SM1", "queued")
        )
    (request,) = seen
    assert str(request.url) == "https://api.twilio.com/2010-04-01/Accounts/ACabc/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"ACabc:secret").decode()
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {"To": PATIENT, "Body": "あ", "From": SENDER, "StatusCallback": "https://x/cb"}


@pytest.mark.parametrize(
    "senders",
    [{}, {"from_number": SENDER, "messaging_service_sid": "MG" + "0" * 32}],
)
def test_exactly_one_sender_is_required(senders):
    with pytest.raises(ValueError):
        TwilioNotifier("ACx", "token", **senders)


async def test_voice_needs_a_caller_id():
    async with TwilioNotifier("ACx", "token", messaging_service_sid="MG1") as notifier:
        with pytest.raises(PermanentSendError):
            await notifier.place_call(to=PATIENT, twiml_url="https://x/voice")
    async with TwilioNotifier("ACx", "token", from_number=SENDER) as notifier:  # a sender ID cannot call
        with pytest.raises(PermanentSendError):
            await notifier.place_call(to=PATIENT, twiml_url="https://x/voice")


async def test_sms_from_a_sender_id_and_calls_from_the_caller_id(sim: RunningSim):
    sim.configure(voice_answers={PATIENT: None})
    async with notifier_for(sim) as notifier:
        await notifier.send_sms(to=PATIENT, body="x")
        await notifier.place_call(to=PATIENT, twiml_url="http://127.0.0.1:9/voice")
    assert sim.messages()[0]["from"] == SENDER and sim.calls()[0]["from"] == CALLER


async def test_implements_both_protocols():
    async with TwilioNotifier("ACx", "token", from_number=SENDER) as notifier:
        assert isinstance(notifier, SmsNotifier)
        assert isinstance(notifier, VoiceNotifier)


async def test_validity_period_is_sent_with_every_sms():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    async with TwilioNotifier(
        "ACabc", "secret", from_number=SENDER, validity_period=14400, transport=httpx.MockTransport(handler)
    ) as notifier:
        await notifier.send_sms(to=PATIENT, body="あ")
    assert dict(httpx.QueryParams(seen[0].content.decode()))["ValidityPeriod"] == "14400"


@pytest.mark.parametrize(
    ("status", "payload", "fact", "reason"),
    [
        (401, {"code": 20003}, "account_problem", "auth"),
        (403, {"code": 20005}, "account_problem", "account_inactive"),
        (400, {"code": 21408}, "account_problem", "geo_permission"),
        (400, {"code": 21606}, "account_problem", "sender_not_allowed"),
        (400, {"code": 21612}, "account_problem", "sender_not_allowed"),
        (401, None, "account_suspect", "auth"),  # a bare 401: a burst of these pauses the lane
        (403, None, "account_suspect", "forbidden"),
        (400, {"code": 21211}, "unreachable", None),
        (400, {"code": 21614}, "not_this_channel", None),
        (400, {"code": 21602}, "failed", None),
        (429, None, "retry_later", None),
    ],
)
async def test_errors_carry_neutral_facts(status, payload, fact, reason):
    """The service reads facts, never Twilio's codes (issue 24.3, 26.1)."""
    async with mocked(status, payload) as notifier:
        with pytest.raises(PermanentSendError if status != 429 else TransientSendError) as caught:
            await notifier.send_sms(to=PATIENT, body="x")
    assert (caught.value.fact, caught.value.reason) == (fact, reason)


async def test_the_account_probe_fails_while_the_token_is_wrong_and_passes_after(sim: RunningSim):
    async with notifier_for(sim, auth_token="wrong") as notifier:
        with pytest.raises(PermanentSendError) as caught:
            await notifier.check_account()
    assert caught.value.fact == "account_problem"
    async with notifier_for(sim) as notifier:
        await notifier.check_account()
