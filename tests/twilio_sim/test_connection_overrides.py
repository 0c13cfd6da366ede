"""The simulator honours Twilio's webhook connection overrides (``#rc=``/``#rp=``/``#tt=``, issue 28.3)."""

from twilio.request_validator import RequestValidator

from bcp_service.twilio_sim import RunningSim
from bcp_service.twilio_sim.overrides import Overrides, split
from tests.twilio_sim.support import Receiver
from tests.twilio_sim.test_sim import send_with_callback


def test_the_fragment_is_parsed_clamped_and_never_part_of_the_url():
    url, options = split("https://bcp.example.jp/webhooks/twilio/status?outbox=7#rc=9&rp=5xx,ct&tt=99999&ct=50")
    assert url == "https://bcp.example.jp/webhooks/twilio/status?outbox=7"
    assert options == Overrides(connect_ms=100, total_ms=15000, retries=5, policy=frozenset({"5xx", "ct"}))
    assert split("https://bcp.example.jp/x") == ("https://bcp.example.jp/x", None)
    assert split("https://bcp.example.jp/x#rp=bogus")[1].policy == {"ct", "rt"}  # Twilio's default policy


def test_the_policy_names_what_is_retried():
    fives = Overrides(policy=frozenset({"5xx"}))
    assert fives.retries_on(status=503, failure=None) and not fives.retries_on(status=404, failure=None)
    assert not fives.retries_on(status=None, failure="ct") and not fives.retries_on(status=204, failure=None)
    everything = Overrides(policy=frozenset({"all"}))
    assert everything.retries_on(status=404, failure=None) and everything.retries_on(status=None, failure="rt")
    assert not everything.retries_on(status=200, failure=None)


def test_a_5xx_is_tried_again_as_the_fragment_asks(sim: RunningSim, receiver: Receiver):
    public = f"{receiver.base_url}/broken"  # answers 500 every time
    send_with_callback(sim, public + "#rc=2&rp=5xx&tt=15000")
    sim.flush_callbacks(timeout=30)
    hits = receiver.on("broken")
    assert sorted(hit.params["MessageStatus"] for hit in hits) == ["delivered"] * 3 + ["sent"] * 3  # 1 + 2 retries
    for hit in hits:  # sent and signed without the fragment (Twilio never sends it)
        assert "#" not in hit.url and RequestValidator(sim.auth_token).validate(public, hit.params, hit.signature)
    assert sim.stats()["callbacks_retried"] == 4 and sim.stats()["callbacks_failed"] == 2


def test_without_the_fragment_or_outside_the_policy_a_5xx_is_tried_once(sim: RunningSim, receiver: Receiver):
    send_with_callback(sim, f"{receiver.base_url}/broken")
    send_with_callback(sim, f"{receiver.base_url}/broken#rc=3&rp=ct,rt")  # connection failures only
    sim.flush_callbacks(timeout=30)
    assert len(receiver.on("broken")) == 4  # two statuses of two messages, once each
    assert sim.stats().get("callbacks_retried", 0) == 0


def test_a_success_is_not_tried_again(sim: RunningSim, receiver: Receiver):
    send_with_callback(sim, f"{receiver.base_url}/status#rc=5&rp=all")
    sim.flush_callbacks(timeout=30)
    assert len(receiver.on("status")) == 2 and sim.stats().get("callbacks_retried", 0) == 0
