"""The simulator's phones page: each number's messages with the answer link to tap."""

from __future__ import annotations

import httpx

from bcp_service.twilio_sim import SimConfig
from bcp_service.twilio_sim.answer_curve import answer_delay_seconds
from bcp_service.twilio_sim.server import RunningSim


def _send(sim: RunningSim, to: str, body: str) -> None:
    response = httpx.post(f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
                          data={"To": to, "From": "BCPDEMO", "Body": body}, auth=(sim.account_sid, sim.auth_token))
    assert response.status_code == 201, response.text


def test_phones_page_lists_numbers_and_shows_the_answer_link():
    with RunningSim(SimConfig()) as sim:
        _send(sim, "+819011112222", "【訓練】安否確認です。回答: http://127.0.0.1:8000/a/tok_en-1 <b>")
        _send(sim, "+819033334444", "お知らせ")
        index = httpx.get(f"{sim.base_url}/_sim/phones").text
        assert "+819011112222" in index and "+819033334444" in index and "2 台" in index
        page = httpx.get(f"{sim.base_url}/_sim/phones/+819011112222").text
        assert 'href="http://127.0.0.1:8000/a/tok_en-1"' in page and "回答ページを開く" in page
        assert "&lt;b&gt;" in page and "<b>" not in page.split("</style>")[1]  # bodies are escaped
        assert "まだありません" in httpx.get(f"{sim.base_url}/_sim/phones/+810000000000").text


def test_answers_follow_the_drill_curve():
    import random

    config = SimConfig(answer_curve_mode_seconds=120)
    rng = random.Random(1)
    delays = sorted(answer_delay_seconds(config, rng) for _ in range(5000))
    median = delays[len(delays) // 2]
    assert 180 < median < 290  # mode 2 min, median about 3.8 min
    assert delays[int(len(delays) * 0.9)] < 15 * 60 < delays[-1]  # most within minutes, a long tail
    fast = SimConfig(answer_curve_mode_seconds=120, answer_speed=10)
    fast_rng = random.Random(1)
    assert sorted(answer_delay_seconds(fast, fast_rng) for _ in range(5000))[2500] < 30
    assert answer_delay_seconds(SimConfig(answer_delay_ms=1500), rng) == 1.5  # load tests keep the fixed delay
