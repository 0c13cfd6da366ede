"""The simulator driven in-process: no threads, webhooks routed through an ASGI transport."""

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bcp_service.twilio_sim import SimConfig, count_segments, create_sim_app
from bcp_service.twilio_sim.delivery import find_gather
from tests.twilio_sim.support import Receiver

CONFIG = SimConfig(seed=7)
MESSAGES = f"/2010-04-01/Accounts/{CONFIG.account_sid}/Messages.json"


async def test_flush_callbacks_waits_for_in_process_webhooks():
    receiver = Receiver()
    sim_app = create_sim_app(
        CONFIG.model_copy(update={"callback_delay_ms": 20}),
        transport=httpx.ASGITransport(app=receiver.app),
    )
    state = sim_app.state.sim
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url="http://sim") as client:
        response = await client.post(
            MESSAGES,
            data={
                "To": "+819012345678",
                "From": "BCPTEST",
                "Body": "x",
                "StatusCallback": "https://app.example.jp/hooks/status",
            },
            auth=(CONFIG.account_sid, CONFIG.auth_token),
        )
        assert response.status_code == 201
        assert state.pending_callbacks == 1
        assert await state.flush_callbacks(timeout=5) == 0
    hits = receiver.on("hooks/status")
    assert [hit.params["MessageStatus"] for hit in hits] == ["sent", "delivered"]
    validator = RequestValidator(CONFIG.auth_token)
    for hit in hits:
        assert validator.validate("https://app.example.jp/hooks/status", hit.params, hit.signature)
    await state.aclose()


async def test_same_seed_gives_same_faults():
    outcomes = []
    for _ in range(2):
        app = create_sim_app(CONFIG.model_copy(update={"transient_failure_rate": 0.5}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            codes = []
            for _ in range(20):
                response = await client.post(
                    MESSAGES,
                    data={"To": "+819012345678", "From": "BCPTEST", "Body": "x"},
                    auth=(CONFIG.account_sid, CONFIG.auth_token),
                )
                codes.append(response.status_code)
        outcomes.append(codes)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {201, 500}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, "GSM-7")),
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("{" * 80, (1, "GSM-7")),
        ("{" * 81, (2, "GSM-7")),
        ("あ" * 70, (1, "UCS-2")),
        ("あ" * 71, (2, "UCS-2")),
        ("あ" * 134, (2, "UCS-2")),
        ("あ" * 135, (3, "UCS-2")),
        ("😀" * 35, (1, "UCS-2")),
        ("😀" * 36, (2, "UCS-2")),
    ],
)
def test_count_segments(text, expected):
    assert count_segments(text) == expected


def test_find_gather_resolves_actions():
    base = "https://app.example.jp/voice/call?round=1"
    assert find_gather('<Response><Gather action="answer"/></Response>', base) == (
        "https://app.example.jp/voice/answer",
        "POST",
        False,
    )
    assert find_gather('<Response><Gather method="get"/></Response>', base) == (base, "GET", False)
    assert find_gather('<Response><Gather actionOnEmptyResult="true"/></Response>', base)[2] is True
    assert find_gather("<Response><Say>hi</Say></Response>", base) is None
    with pytest.raises(ValueError):
        find_gather("not xml", base)
