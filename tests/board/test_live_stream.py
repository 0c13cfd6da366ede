"""The event stream against the real server: an answer reaches an open stream, also when it was recorded
by another service process (a second server with its own hub and LISTEN connection: nothing shared in memory)."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx

from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from tests.board.builders import answer_token, build_round
from tests.browser.server import LiveServer
from tests.factories import create_user


class EventReader(threading.Thread):
    """Reads one SSE stream in the background and puts each (event, data, received_at) on a queue."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.cookies = url, cookies
        self.events: queue.Queue = queue.Queue()
        self.raw: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with (
            httpx.Client(cookies=self.cookies, timeout=httpx.Timeout(10, read=30)) as client,
            client.stream("GET", self.url) as response,
        ):
            self.events.put(("status", response.status_code, response.headers.get("content-type"), time.perf_counter()))
            name, data = None, []
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                self.raw.append(line)
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and name:
                    self.events.put((name, json.loads("".join(data)), None, time.perf_counter()))
                    name, data = None, []

    def next(self, kind: str, timeout: float = 5.0, where=lambda data: True):
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise AssertionError(f"no {kind} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event[0] == kind and where(event[1]):
                return event


def _login(committed, settings, role="admin", scope_id=None) -> dict[str, str]:
    user = create_user(committed, role, scope_id)
    token, _ = start_web_session(session=committed, user=user, settings=settings)
    committed.commit()
    return {SESSION_COOKIE: token}


def _post_answer(base_url: str, token: str, state: str = "needs_help") -> float:
    response = httpx.post(f"{base_url}/a/{token}", data={"state": state, "nonce": f"n-{time.perf_counter_ns()}"})
    assert response.status_code == 200, response.text[:200]
    return time.perf_counter()


def test_answer_reaches_an_open_stream(live_server, committed, settings):
    scene = build_round(committed, live_server.settings)
    token = answer_token(committed, scene.checks["silent_critical"])
    committed.commit()
    reader = EventReader(f"{live_server.url}/board/rounds/{scene.round.id}/events", _login(committed, settings))
    reader.start()
    status = reader.next("status")
    assert status[1] == 200 and status[2].startswith("text/event-stream")
    snapshot = reader.next("snapshot")[1]
    assert snapshot["answered"] == 5 and len(snapshot["feed"]) == 5
    check_id = scene.checks["silent_critical"].id

    answered_at = _post_answer(live_server.url, token)
    event = reader.next("update", timeout=3, where=lambda d: any(i["check"] == check_id for i in d["feed"]))
    latency = event[3] - answered_at
    reader.stop.set()
    assert event[1]["answered"] == 6
    # The one-second promise is asserted in the browser (tests/browser); here the delivery, with slack
    # for a shared CI machine, and the figure under load is in load_tests/RESULTS.md.
    assert latency < 2.0, f"answer to event took {latency:.3f} s"
    assert reader.raw[0].startswith("retry:") and any(line.startswith("id: ") for line in reader.raw)


def test_several_processes_deliver_the_same_events(settings, engine, committed):
    """Two servers, two hubs: an answer recorded through one reaches a stream opened on the other."""
    scene = build_round(committed, settings)
    token = answer_token(committed, scene.checks["silent_standard"])
    cookies = _login(committed, settings)
    first, second = LiveServer(settings, engine).spawn(), LiveServer(settings, engine).spawn()
    try:
        first.wait_ready(), second.wait_ready()
        readers = [EventReader(f"{s.url}/board/rounds/{scene.round.id}/events", cookies) for s in (first, second)]
        for reader in readers:
            reader.start()
            reader.next("snapshot")
        check_id = scene.checks["silent_standard"].id
        answered_at = _post_answer(first.url, token, "safe")
        for reader in readers:
            event = reader.next("update", timeout=3, where=lambda d: any(i["check"] == check_id for i in d["feed"]))
            assert event[3] - answered_at < 2.0
            reader.stop.set()
    finally:
        first.stop()
        second.stop()


def test_stream_requires_login_and_a_board_role(live_server, committed, settings):
    scene = build_round(committed, live_server.settings, answer=False)
    committed.commit()
    url = f"{live_server.url}/board/rounds/{scene.round.id}/events"
    assert httpx.get(url, follow_redirects=False).status_code == 303
    system = _login(committed, settings, "system")
    assert httpx.get(url, cookies=system, follow_redirects=False).status_code == 403
