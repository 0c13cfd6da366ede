"""Locust users of the disaster burst (run by ``python -m load_tests.run``; see load_tests/README.md).

Configured through ``LOAD_*`` environment variables the runner sets:

- ``AnswerPageUser``: opens a one-tap answer link (``GET /a/{token}``) and taps a button (``POST``).
- ``SmsReplyUser``: the patient's SMS reply as Twilio posts it (signed ``/webhooks/twilio/inbound``).
- ``ReceiptUser``: delivery receipts (signed ``/webhooks/twilio/status``), some out of order, a few undelivered.
- ``NurseUser``: logs in, then records results through ``POST /api/v1/nurse/results`` with ids made here.
- ``BoardViewer``: holds the live board's event stream and notes when each answered check shows up.
- ``BareUser``: the yardstick, ``POST /bare/form`` on a bare FastAPI app served the same way.

Links and provider ids come from the messages the Twilio simulator accepted (``GET /_sim/messages``),
harvested by each Locust process for its own share (``LOAD_PROCESSES``), or from a file the runner
wrote (``LOAD_MESSAGES_FILE``). What was accepted, and when, is written to ``LOAD_OUT/*.jsonl``; the
runner joins that with the database (was every accepted request recorded?) and with what the board
viewers saw (freshness). Nothing personal is written: provider ids, nonces, check ids and times only.
"""

from __future__ import annotations

# Locust first: it patches the standard library for gevent, which must happen before ssl is imported.
from locust import FastHttpUser, User, between, events, task  # isort: skip

import json
import math
import os
import random
import time
import uuid
from collections import deque
from pathlib import Path

import gevent
import requests
from gevent.lock import Semaphore

from load_tests.burst import wire

ENV = os.environ
SIM_URL = ENV.get("LOAD_SIM_URL", "http://127.0.0.1:8099")
OUT = Path(ENV.get("LOAD_OUT", "."))
PHASE = ENV.get("LOAD_PHASE", "burst")
PROCESSES = int(ENV.get("LOAD_PROCESSES", "1"))
ACCOUNT_SID = ENV.get("LOAD_ACCOUNT_SID", "AC5130a7000000000000000000000000a1")
SIGNER = wire.Signer(
    ENV.get("LOAD_AUTH_TOKEN", "simulator-auth-token"), ENV.get("LOAD_WEBHOOK_BASE", "http://127.0.0.1:8000")
)
FROM_NUMBER = ENV.get("LOAD_FROM_NUMBER", "+815000000000")
ROUND_ID = ENV.get("LOAD_ROUND_ID", "1")
REPLY_SHARE = float(ENV.get("LOAD_REPLY_SHARE", "0.25"))
UNDELIVERED_SHARE = float(ENV.get("LOAD_UNDELIVERED_SHARE", "0.01"))
OUT_OF_ORDER_SHARE = float(ENV.get("LOAD_OUT_OF_ORDER_SHARE", "0.3"))
HARVEST_SECONDS = float(ENV.get("LOAD_HARVEST_SECONDS", "1.0"))
HARVEST_LIMIT = int(ENV.get("LOAD_HARVEST_LIMIT", "3000"))
# The sustained scenario: rates follow the answer curve of one hour compressed into this many seconds.
CURVE_SECONDS = float(ENV.get("LOAD_CURVE_SECONDS", "0"))
DEADLINE = time.time() + float(ENV.get("LOAD_MAX_SECONDS", "3600"))  # nothing here outlives this
STARTED = time.time()


def _users(name: str, default: int = 0) -> int:
    return int(ENV.get(f"LOAD_{name}_USERS", default))


def _rate(name: str) -> float:
    return float(ENV.get(f"LOAD_{name}_RATE", "0"))


def curve(elapsed: float) -> float:
    """How busy the compressed hour is at ``elapsed`` seconds, relative to its mean (mean ~1).

    Answers to a safety check peak about two minutes after the message (a 2018 drill of 84,000
    people) with a long tail: a log-normal in minutes, median 3, clipped at the hour.
    """
    if CURVE_SECONDS <= 0:
        return 1.0
    minutes = max(0.05, elapsed / CURVE_SECONDS * 60)
    mu, sigma = math.log(3.0), 0.9
    density = math.exp(-((math.log(minutes) - mu) ** 2) / (2 * sigma * sigma)) / (
        minutes * sigma * math.sqrt(2 * math.pi)
    )
    return max(0.05, density * 60)


def paced(per_second: float):
    """Iterations per second per user (0: as fast as the server answers); follows ``curve``."""
    if per_second <= 0:
        return lambda _user: 0
    state: dict[int, float] = {}

    def wait(user) -> float:
        now = time.monotonic()
        rate = per_second * curve(time.time() - STARTED)
        due = state.get(id(user), now) + 1.0 / rate
        state[id(user)] = max(due, now - 1.0)
        return max(0.0, due - now)

    return wait


class Journal:
    """Buffered JSON lines, one file per process; flushed every second and when the run ends."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.path: Path | None = None
        self.lock = Semaphore()

    def write(self, **record) -> None:
        self.lines.append(json.dumps(record, separators=(",", ":")))
        if len(self.lines) >= 2000:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self.lines:
                return
            if self.path is None:
                OUT.mkdir(parents=True, exist_ok=True)
                self.path = OUT / f"{PHASE}-{os.getpid()}.jsonl"
            lines, self.lines = self.lines, []
            with self.path.open("a") as handle:
                handle.write("\n".join(lines) + "\n")


JOURNAL = Journal()


def _flusher() -> None:
    while time.time() < DEADLINE:
        gevent.sleep(1.0)
        JOURNAL.flush()


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:
    gevent.spawn(_flusher)


@events.test_stop.add_listener
def _on_stop(**_kwargs) -> None:
    JOURNAL.flush()


@events.quitting.add_listener
def _on_quit(**_kwargs) -> None:
    JOURNAL.flush()


class Pool:
    """Messages the simulator accepted, this process's share of them, each handed out once."""

    def __init__(self) -> None:
        self.links: deque[tuple[str, str]] = deque()
        self.replies: deque[tuple[str, str]] = deque()
        self.receipts: deque[tuple[str, str, str | None, str]] = deque()
        self.seen: set[str] = set()
        self.started = False
        self.index = 0
        self.lock = Semaphore()

    def start(self, environment) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
            self.index = max(0, getattr(environment.runner, "worker_index", 0) or 0)
        source = ENV.get("LOAD_MESSAGES_FILE")
        if source:
            self._load_file(Path(source))
        else:
            gevent.spawn(self._harvest_loop)

    def _take(self, sid: str, token: str | None, to: str) -> None:
        if sid in self.seen or wire.bucket(sid, PROCESSES) != self.index:
            return
        self.seen.add(sid)
        if token and wire.share(sid, "reply") >= REPLY_SHARE:
            self.links.append((sid, token))
        else:
            self.replies.append((sid, to))
        for status, code in wire.receipt_plan(
            sid, undelivered_share=UNDELIVERED_SHARE, out_of_order_share=OUT_OF_ORDER_SHARE
        ):
            self.receipts.append((sid, status, code, to))

    def _load_file(self, path: Path) -> None:
        with path.open() as handle:
            for line in handle:
                sid, token, to = line.rstrip("\n").split("\t")
                self._take(sid, token or None, to)
        # Webhook capacity is measured on a mix: interleave so no phase starts with one kind only.
        items = list(self.receipts)
        random.Random(self.index).shuffle(items)
        self.receipts = deque(items)

    def _harvest_loop(self) -> None:
        session = requests.Session()
        while time.time() < DEADLINE:
            try:
                response = session.get(
                    f"{SIM_URL}/_sim/messages", params={"limit": HARVEST_LIMIT, "direction": "outbound-api"}, timeout=30
                )
                for record in reversed(response.json()["messages"]):
                    self._take(record["sid"], wire.token_from_body(record.get("body")), record["to"])
            except Exception:  # the simulator is busy; try again next time
                pass
            gevent.sleep(HARVEST_SECONDS)

    @staticmethod
    def pop(queue: deque, timeout: float = 5.0):
        waited = 0.0
        while not queue:
            if waited >= timeout or time.time() > DEADLINE:
                return None
            gevent.sleep(0.05)
            waited += 0.05
        return queue.popleft()


POOL = Pool()


def _fail(response, what: str = "") -> None:
    response.failure(f"HTTP {response.status_code}{what}")


class AnswerPageUser(FastHttpUser):
    fixed_count = _users("ANSWER")
    wait_time = paced(_rate("ANSWER"))

    def on_start(self) -> None:
        POOL.start(self.environment)

    @task
    def answer(self) -> None:
        item = Pool.pop(POOL.links)
        if item is None:
            return
        sid, token = item
        with self.client.get(f"/a/{token}", name="GET /a/[token]", catch_response=True) as page:
            if page.status_code != 200:
                _fail(page)
                return
            nonce = wire.nonce_from_form(page.text) or uuid.uuid4().hex[:16]
        state = random.choices([s for s, _ in wire.LINK_STATES], [w for _, w in wire.LINK_STATES])[0]
        form = {"state": state, "hours": "3" if state == "power_out" else "", "note": "", "nonce": nonce}
        with self.client.post(f"/a/{token}", data=form, name="POST /a/[token]", catch_response=True) as response:
            if response.status_code == 200:
                JOURNAL.write(k="link", sid=sid, nonce=nonce, t=time.time())
            else:
                _fail(response)


class SmsReplyUser(FastHttpUser):
    fixed_count = _users("REPLY")
    wait_time = paced(_rate("REPLY"))

    def on_start(self) -> None:
        POOL.start(self.environment)

    @task
    def reply(self) -> None:
        item = Pool.pop(POOL.replies)
        if item is None:
            return
        original, phone = item
        sid = wire.new_sid()
        body = random.choices([b for b, _ in wire.REPLIES], [w for _, w in wire.REPLIES])[0]
        params = wire.reply_params(account_sid=ACCOUNT_SID, sid=sid, from_=phone, to=FROM_NUMBER, body=body)
        headers = {"X-Twilio-Signature": SIGNER.sign(wire.INBOUND_PATH, params)}
        with self.client.post(
            wire.INBOUND_PATH, data=params, headers=headers, name="POST webhook inbound", catch_response=True
        ) as response:
            if response.status_code == 200:
                JOURNAL.write(k="sms", sid=sid, orig=original, t=time.time())
            else:
                _fail(response)


class ReceiptUser(FastHttpUser):
    fixed_count = _users("RECEIPT")
    wait_time = paced(_rate("RECEIPT"))

    def on_start(self) -> None:
        POOL.start(self.environment)

    @task
    def receipt(self) -> None:
        item = Pool.pop(POOL.receipts)
        if item is None:
            return
        sid, status, code, phone = item
        params = wire.status_params(
            account_sid=ACCOUNT_SID, sid=sid, status=status, to=phone, from_=FROM_NUMBER, error_code=code
        )
        headers = {"X-Twilio-Signature": SIGNER.sign(wire.STATUS_PATH, params)}
        with self.client.post(
            wire.STATUS_PATH, data=params, headers=headers, name="POST webhook status", catch_response=True
        ) as response:
            if response.status_code in (200, 204):
                JOURNAL.write(k="status", sid=sid, s=status, t=time.time())
            else:
                _fail(response)


def _nurse_accounts() -> list[dict]:
    path = ENV.get("LOAD_NURSES_FILE")
    if not path or not Path(path).exists():
        return []
    return json.loads(Path(path).read_text())


class NurseUser(FastHttpUser):
    fixed_count = _users("NURSE")
    wait_time = paced(_rate("NURSE"))
    accounts = _nurse_accounts()

    def on_start(self) -> None:
        self.account = random.choice(self.accounts) if self.accounts else None
        self.token = None
        if self.account is None:
            return
        with self.client.post(
            "/api/v1/auth/token",
            data={"username": self.account["username"], "password": self.account["password"]},
            name="POST /api/v1/auth/token",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self.token = response.json()["access_token"]
            else:
                _fail(response)

    @task
    def record(self) -> None:
        if not self.token or not self.account["checks"]:
            gevent.sleep(1)
            return
        check = random.choice(self.account["checks"])
        client_id = uuid.uuid4().hex
        state = random.choice(["safe", "safe", "safe", "needs_help", "power_out", "unreachable"])
        body = {
            "client_id": client_id,
            "check_id": check,
            "state": state,
            "method": random.choice(["phone", "visit"]),
            "hours_left": 4 if state == "power_out" else None,
            "note": None,
        }
        with self.client.post(
            "/api/v1/nurse/results",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            name="POST /api/v1/nurse/results",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                JOURNAL.write(k="nurse", cid=client_id, c=check, t=time.time())
            else:
                _fail(response)


_viewer_numbers = iter(range(1_000_000))


class BoardViewer(User):
    """One person watching the live board: a long-lived SSE stream, reconnecting when it ends."""

    fixed_count = _users("VIEWER")
    wait_time = between(0.5, 1.0)

    def on_start(self) -> None:
        self.number = next(_viewer_numbers)
        self.viewer = f"{os.getpid()}-{self.number}"
        tokens = [t for t in (ENV.get("LOAD_ADMIN_TOKEN"), ENV.get("LOAD_PREF_TOKEN")) if t]
        self.token = tokens[self.number % len(tokens)] if tokens else ""
        self.http = requests.Session()

    @task
    def watch(self) -> None:
        url = f"{self.host}/board/rounds/{ROUND_ID}/events"
        started = time.perf_counter()
        name = "GET /board/rounds/[id]/events (to snapshot)"
        try:
            with self.http.get(
                url, headers={"Authorization": f"Bearer {self.token}"}, stream=True, timeout=(10, 60)
            ) as response:
                if response.status_code != 200:
                    self._event(name, started, RuntimeError(f"HTTP {response.status_code}"))
                    return
                parser = wire.SseParser()
                snapshot = False
                for chunk in response.iter_content(chunk_size=None):
                    now = time.time()
                    for event, data in parser.feed(chunk):
                        if event == "snapshot" and not snapshot:
                            snapshot = True
                            self._event(name, started, None, len(data))
                        elif event == "update":
                            checks = wire.feed_checks(data)
                            if checks:
                                JOURNAL.write(k="seen", v=self.viewer, t=now, c=checks)
                    if time.time() > DEADLINE:
                        return
        except Exception as exc:  # a dropped stream is a failure to report, then the viewer reconnects
            self._event(name, started, exc)

    def _event(self, name: str, started: float, exc: Exception | None, length: int = 0) -> None:
        self.environment.events.request.fire(
            request_type="SSE",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )


class BareUser(FastHttpUser):
    """The same form body as a status webhook, to an endpoint that does nothing with it."""

    fixed_count = _users("BARE")
    wait_time = paced(_rate("BARE"))

    @task
    def post(self) -> None:
        params = wire.status_params(
            account_sid=ACCOUNT_SID, sid=wire.new_sid(), status="delivered", to="+819000000000", from_=FROM_NUMBER
        )
        headers = {"X-Twilio-Signature": SIGNER.sign(wire.STATUS_PATH, params)}
        with self.client.post(
            "/bare/form", data=params, headers=headers, name="POST /bare/form", catch_response=True
        ) as response:
            if response.status_code != 204:
                _fail(response)
