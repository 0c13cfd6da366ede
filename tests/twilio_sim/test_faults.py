"""The simulator's injectable faults (bcp_service/twilio_sim/faults.py) and the fetch of a message."""

import httpx
import pytest

from bcp_service.twilio_sim import RunningSim
from notifiers import PermanentSendError, TransientSendError, TwilioNotifier

PATIENT = "+819012345678"
SENDER = "BCPTEST"  # SMS from an alphanumeric sender ID, as in Japan (a +81 sender is refused: 21606)


@pytest.fixture
def faulty(sim: RunningSim):
    def set_faults(**faults):
        answer = httpx.post(f"{sim.base_url}/_sim/faults", json=faults, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    yield set_faults
    httpx.delete(f"{sim.base_url}/_sim/faults", timeout=5)


def notifier(sim: RunningSim, **options) -> TwilioNotifier:
    return TwilioNotifier(sim.account_sid, sim.auth_token, from_number=SENDER, base_url=sim.base_url, **options)


async def test_outage_answers_500_until_it_ends(sim, faulty):
    faulty(outage_seconds=30)
    async with notifier(sim) as twilio:
        with pytest.raises(TransientSendError) as caught:
            await twilio.send_sms(to=PATIENT, body="x")
        assert caught.value.code == "20500"
        faulty()  # over
        assert (await twilio.send_sms(to=PATIENT, body="x")).provider_id.startswith("SM")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("21611", TransientSendError),
        ("429", TransientSendError),
        ("500", TransientSendError),
        ("21614", PermanentSendError),
    ],
)
async def test_api_errors_map_to_what_the_sender_does(sim, faulty, code, kind):
    faulty(api_errors={code: 1.0})
    async with notifier(sim) as twilio:
        with pytest.raises(kind):
            await twilio.send_sms(to=PATIENT, body="x")


async def test_a_full_sender_queue_refuses_with_21611_then_drains(sim, faulty):
    faulty(queue_segments=4, drain_segments_per_second=1000)
    async with notifier(sim) as twilio:
        body = "あ" * 100  # two UCS-2 segments
        await twilio.send_sms(to=PATIENT, body=body)
        faulty(queue_segments=4, drain_segments_per_second=0.001)
        await twilio.send_sms(to=PATIENT, body=body)
        await twilio.send_sms(to=PATIENT, body=body)
        with pytest.raises(TransientSendError) as caught:
            await twilio.send_sms(to=PATIENT, body=body)
        assert caught.value.code == "21611"


async def test_delivery_errors_and_fetch_show_the_true_status(sim, faulty):
    faulty(delivery_errors={"30005": 1.0})
    async with notifier(sim) as twilio:
        sent = await twilio.send_sms(to=PATIENT, body="x")
        fetched = await twilio.fetch_status(sent.provider_id)
        assert (fetched.status, fetched.error_code) == ("undelivered", "30005")
        faulty(delivery_errors={"30001": 1.0})
        failed = await twilio.fetch_status((await twilio.send_sms(to=PATIENT, body="x")).provider_id)
        assert (failed.status, failed.error_code) == ("failed", "30001")
        with pytest.raises(PermanentSendError):
            await twilio.fetch_status("SM" + "0" * 32)


async def test_a_message_that_would_wait_past_its_validity_fails(sim, faulty):
    faulty(queue_segments=1000, drain_segments_per_second=1)
    async with notifier(sim, validity_period=5) as twilio:
        for _ in range(3):
            await twilio.send_sms(to=PATIENT, body="あ" * 100)  # 6 segments queued: 6 s at 1 a second
        late = await twilio.fetch_status((await twilio.send_sms(to=PATIENT, body="x")).provider_id)
        assert (late.status, late.error_code) == ("failed", "30001")


def test_unknown_codes_are_refused(sim, faulty):
    answer = httpx.post(f"{sim.base_url}/_sim/faults", json={"api_errors": {"99999": 1}}, timeout=5)
    assert answer.status_code == 422 and "99999" in answer.text
