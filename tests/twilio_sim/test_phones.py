"""The simulator's phones page: each number's messages with the answer link to tap."""

from __future__ import annotations

import httpx

from bcp_service.twilio_sim import SimConfig
from bcp_service.twilio_sim.answer_curve import answer_delay_seconds
from bcp_service.twilio_sim.server import RunningSim


def _send(sim: RunningSim, to: str, body: str) -> None:
    response = httpx.post(
        f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
        data={"To": to, "From": "BCPDEMO", "Body": body},
        auth=(sim.account_sid, sim.auth_token),
    )
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


def test_numbers_are_found_as_people_write_them_and_messages_carry_their_mark():
    with RunningSim(SimConfig()) as sim:
        _send(sim, "+819012345678", "【在宅医療】【訓練】安否確認です。回答http://127.0.0.1:8000/a/tok1")
        _send(sim, "+819087654321", "【在宅医療】【再送】安否確認 http://127.0.0.1:8000/a/tok2")
        for written in ("090-1234-5678", "０９０‐１２３４‐５６７８", "090 1234 5678", "+81 90-1234-5678", "1234-5678"):
            index = httpx.get(f"{sim.base_url}/_sim/phones", params={"q": written}).text
            assert "+819012345678" in index and "+819087654321" not in index, written
        assert "+819012345678" not in httpx.get(f"{sim.base_url}/_sim/phones", params={"q": "080"}).text
        index = httpx.get(f"{sim.base_url}/_sim/phones").text
        assert "09012345678" in index and "【訓練】安否確認" in index and "【本番】安否確認（再送）" in index
        page = httpx.get(f"{sim.base_url}/_sim/phones/090-8765-4321").text
        assert "<strong>【本番】</strong>安否確認（再送）" in page and "tok2" in page


def test_the_automatic_answer_never_overwrites_one_typed_by_hand():
    import asyncio
    import random

    from bcp_service.twilio_sim.delivery import answer_by_link

    class Page:
        status_code = 200
        is_success = True

        def __init__(self, text: str) -> None:
            self.text = text

    class Http:
        def __init__(self, answered: bool) -> None:
            self.answered, self.posts = answered, []

        async def get(self, url):
            return Page(
                '<p class="box">現在の回答: <strong>要支援</strong>（変更できます）</p>'
                if self.answered
                else '<input name="nonce" value="n1">'
            )

        async def post(self, url, data):
            self.posts.append(data)
            return Page("ありがとうございました")

    class State:
        def __init__(self, answered: bool) -> None:
            self.config, self.rng, self.stats = SimConfig(answer_delay_ms=1), random.Random(1), {}
            self.http = Http(answered)

        def _http(self):
            return self.http

        def count(self, key, n=1):
            self.stats[key] = self.stats.get(key, 0) + n

    for answered in (True, False):
        state = State(answered)
        record = {"body": "安否確認です。回答http://127.0.0.1:8000/a/tok1"}
        asyncio.run(answer_by_link(state, record))
        if answered:
            assert state.http.posts == [] and state.stats == {"answers_skipped": 1}
            assert record["answers"][0]["skipped"]
        else:
            assert len(state.http.posts) == 1 and state.stats == {"answers_sent": 1}


def test_each_message_names_its_round_from_the_answer_page(anon_client, session, settings):
    """The round's title is read from the service's own answer page (the simulator, like Twilio, is not told it)."""
    import asyncio

    from sqlmodel import select

    from bcp_service.models import OutboxMessage
    from bcp_service.rounds.service import Actor, start_round
    from bcp_service.rounds.targets import RoundTarget
    from bcp_service.twilio_sim.delivery import round_title
    from bcp_service.twilio_sim.phones import _learn_round_titles, _round_label
    from tests.factories import create_municipality, create_patient, create_prefecture

    city = create_municipality(session, create_prefecture(session))
    create_patient(session, city, phones=["+819012345678"])
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[city.id]),
        reason="manual",
        drill=False,
        settings=settings,
        title="千葉県北西部地震 <本番>",
    )
    token = session.exec(select(OutboxMessage.answer_token).where(OutboxMessage.round_id == safety_round.id)).one()
    session.flush()
    real_page = anon_client.get(f"/a/{token}").text
    assert round_title(real_page) == "千葉県北西部地震 <本番>"

    class Http:
        async def get(self, url, timeout=None):
            page = type(
                "Page", (), {"is_success": True, "text": real_page if url.endswith("/a/tok1") else "<h1>安否確認</h1>"}
            )
            return page()

    class State:
        def _http(self):
            return Http()

    records = [
        {"body": "【在宅医療】安否確認の回答は http://127.0.0.1:8000/a/tok1"},
        {"body": "【在宅医療】【訓練】安否確認の回答は http://127.0.0.1:8000/a/tok2"},
        {"body": "お知らせ"},
    ]
    asyncio.run(_learn_round_titles(State(), records))
    assert [r.get("round_title") for r in records] == ["千葉県北西部地震 <本番>", "", None]
    assert _round_label(records[0]) == "「千葉県北西部地震 &lt;本番&gt;」" and _round_label(records[1]) == ""
