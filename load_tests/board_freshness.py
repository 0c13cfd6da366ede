"""Board freshness under a burst of answers: answer recorded -> update on the open boards.

    .venv/bin/python load_tests/board_freshness.py [--patients 200000] [--answers 2000] [--seconds 10]
        [--clients 20] [--workers 2] [--no-browser]

Creates (and drops) database ``bcp_bench_board`` on 127.0.0.1:5432, seeds the Chiba structure and
N synthetic patients, starts one round for the whole prefecture (N checks, N outbox rows with answer
links), then runs the service as it runs in production: ``uvicorn bcp_service.asgi:app --workers W``
(separate processes behind one port, so an answer recorded by one process must reach streams held
by the other through PostgreSQL LISTEN/NOTIFY). It opens C event streams (httpx, cookie session:
half whole-round views, the rest filtered or scoped so that several distinct views are computed),
optionally one real board page in Debian's chromium, and posts the answers through the public answer
links (``POST /a/{token}``) at an even rate. Latency of one answer on one board = time its feed line
arrives on that stream (or, in the browser, is inserted into the page) - time the POST returned.
Everything runs on this machine: loopback only, bounded counts and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from sqlmodel import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcp_service import migrations  # noqa: E402
from bcp_service.auth.service import create_user, start_web_session  # noqa: E402
from bcp_service.config import Settings  # noqa: E402
from bcp_service.db import make_engine, make_session_factory  # noqa: E402
from bcp_service.demo.chiba import load_chiba  # noqa: E402
from bcp_service.demo.synthetic import seed_patients  # noqa: E402
from bcp_service.models import OutboxMessage  # noqa: E402
from bcp_service.rounds.service import Actor, start_round  # noqa: E402
from bcp_service.rounds.targets import RoundTarget  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DB = "bcp_bench_board"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
PORT = 8766
BASE = f"http://127.0.0.1:{PORT}"
CHROMIUM = "/usr/bin/chromium"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def prepare(patients: int, answers: int) -> tuple[int, list[tuple[int, str]], str, list[str]]:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    engine = make_engine(URL)
    migrations.upgrade(engine)
    settings = Settings(database_url=URL, public_base_url=BASE)
    with make_session_factory(engine)() as session:
        structure = load_chiba(session)
        session.commit()
    started = time.perf_counter()
    seed_patients(engine, patients, seed=11, prefecture_id=structure.prefecture_id)
    print(f"seed: {patients:,} patients in {time.perf_counter() - started:.1f} s", flush=True)
    with make_session_factory(engine)() as session:
        started = time.perf_counter()
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("bench"),
            reason="manual",
            drill=True,
            target=RoundTarget(prefecture_id=structure.prefecture_id),
            settings=settings,
            title="負荷試験",
        )
        session.commit()
        print(f"round: {safety_round.target_count:,} checks in {time.perf_counter() - started:.1f} s", flush=True)
        links = session.exec(
            select(OutboxMessage.check_id, OutboxMessage.answer_token).where(OutboxMessage.round_id == safety_round.id)
        ).all()
        admin = create_user(session=session, username="bench-admin", password="bench-password-1", role="admin")
        pref = create_user(
            session=session,
            username="bench-pref",
            password="bench-password-1",
            role="prefecture",
            scope_id=structure.prefecture_id,
        )
        cookies = [start_web_session(session=session, user=user, settings=settings)[0] for user in (admin, pref)]
        session.commit()
        regions = [str(r) for r in structure.region_ids.values()]
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    engine.dispose()
    rng = random.Random(5)
    chosen = rng.sample(list(links), answers)
    return safety_round.id, chosen, cookies[0], [cookies[1], *regions]


class Stream:
    def __init__(self, name: str, url: str, cookie: str) -> None:
        self.name, self.url, self.cookie = name, url, cookie
        self.seen: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.updates = 0
        self.bytes = 0

    async def run(self, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", self.url, cookies={"bcp_session": self.cookie}) as response:
            response.raise_for_status()
            event, data = None, []
            async for line in response.aiter_lines():
                self.bytes += len(line) + 1
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and event:
                    now = time.perf_counter()
                    message = json.loads("".join(data))
                    if event == "snapshot":
                        self.ready.set()
                    else:
                        self.updates += 1
                        for item in message["feed"]:
                            self.seen.setdefault(item["check"], now)
                    event, data = None, []


async def browser_board(round_id: int, cookie: str, seen: dict[int, float], ready: asyncio.Event, stop: asyncio.Event):
    from playwright.async_api import async_playwright

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        await context.add_cookies([{"name": "bcp_session", "value": cookie, "url": BASE}])
        page = await context.new_page()

        def shown(check: int) -> None:
            seen.setdefault(int(check), time.perf_counter())

        await page.expose_function("boardShown", shown)
        await page.goto(f"{BASE}/board/rounds/{round_id}")
        await page.wait_for_selector("#live-status.on", timeout=20000)
        await page.evaluate("""() => {
            new MutationObserver((records) => {
                for (const r of records) for (const n of r.addedNodes)
                    if (n.nodeType === 1 && n.dataset && n.dataset.check) window.boardShown(Number(n.dataset.check));
            }).observe(document.getElementById('feed'), {childList: true});
        }""")
        ready.set()
        await stop.wait()
        await browser.close()


async def burst(
    round_id: int,
    links: list[tuple[int, str]],
    admin_cookie: str,
    others: list[str],
    clients: int,
    seconds: float,
    use_browser: bool,
) -> dict:
    pref_cookie, *regions = others
    views = []
    for i in range(clients):
        if i % 2 == 0:
            views.append((f"admin-{i}", f"{BASE}/board/rounds/{round_id}/events", admin_cookie))
        elif i % 4 == 1:
            views.append((f"pref-{i}", f"{BASE}/board/rounds/{round_id}/events", pref_cookie))
        else:
            region = regions[i % len(regions)]
            views.append((f"region-{i}", f"{BASE}/board/rounds/{round_id}/events?region_id={region}", admin_cookie))
    streams = [Stream(*v) for v in views]
    limits = httpx.Limits(max_connections=clients + 64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=120), limits=limits) as client:
        tasks = [asyncio.create_task(s.run(client)) for s in streams]
        tasks[0].add_done_callback(
            lambda t: t.cancelled() or not t.exception() or print("stream failed:", repr(t.exception()))
        )
        browser_seen: dict[int, float] = {}
        browser_ready, stop = asyncio.Event(), asyncio.Event()
        browser_task = None
        if use_browser:
            browser_task = asyncio.create_task(browser_board(round_id, admin_cookie, browser_seen, browser_ready, stop))
            await asyncio.wait_for(browser_ready.wait(), 60)
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams)), 60)
        print(f"streams: {len(streams)} open{' + 1 browser' if use_browser else ''}", flush=True)

        done: dict[int, float] = {}
        post_times: dict[int, float] = {}
        errors = 0
        interval = seconds / len(links)
        start = time.perf_counter()
        posting = asyncio.Semaphore(32)

        async def post(i: int, check_id: int, token: str) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            state = random.choice(["safe"] * 8 + ["needs_help", "power_out"])
            async with posting:
                began = time.perf_counter()
                response = await client.post(f"{BASE}/a/{token}", data={"state": state, "hours": "3", "nonce": f"b{i}"})
            if response.status_code == 200:
                done[check_id] = time.perf_counter()
                post_times[check_id] = done[check_id] - began
            else:
                errors += 1

        await asyncio.gather(*(post(i, c, t) for i, (c, t) in enumerate(links)))
        post_seconds = time.perf_counter() - start
        await asyncio.sleep(5)  # stragglers
        stop.set()
        for task in tasks:
            task.cancel()
        if browser_task:
            await browser_task
    latencies, missing, worst = [], 0, []
    for check_id, at in done.items():
        per_answer = []
        for stream in streams:
            if check_id in stream.seen:
                per_answer.append(stream.seen[check_id] - at)
            elif stream.name.startswith(("admin", "pref")):
                missing += 1
        latencies.extend(per_answer)
        if per_answer:
            worst.append(max(per_answer))
    browser = [browser_seen[c] - at for c, at in done.items() if c in browser_seen]
    order = {c: i for i, (c, _t) in enumerate(links)}
    unseen = sorted(order[c] for c in done if not any(c in s.seen for s in streams))
    if unseen:
        slow = [round(post_times[links[i][0]], 1) for i in unseen[:20]]
        print(f"answers seen by no stream (posting order): {unseen[:20]}; their POST took {slow} s", flush=True)
    return {
        "post_p95": percentile(list(post_times.values()), 95),
        "post_max": max(post_times.values()),
        "posted": len(done),
        "errors": errors,
        "post_seconds": post_seconds,
        "latencies": latencies,
        "worst": worst,
        "missing": missing,
        "browser": browser,
        "browser_missing": len(done) - len(browser),
        "updates": statistics.median([s.updates for s in streams]),
        "kb_per_stream": statistics.median([s.bytes for s in streams]) / 1024,
    }


def report(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no data"
    ms = [v * 1000 for v in values]
    return (
        f"{name}: n={len(ms)} p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
        f"p99 {percentile(ms, 99):.0f} ms, max {max(ms):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    round_id, links, admin_cookie, others = prepare(args.patients, args.answers)
    env = {**os.environ, "BCP_DATABASE_URL": URL, "BCP_PUBLIC_BASE_URL": BASE, "BCP_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bcp_service.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "3",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"{BASE}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        use_browser = not args.no_browser and os.path.exists(CHROMIUM)
        result = asyncio.run(burst(round_id, links, admin_cookie, others, args.clients, args.seconds, use_browser))
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    print(
        f"posted {result['posted']} answers in {result['post_seconds']:.1f} s ({result['errors']} errors) "
        f"to a {args.patients:,}-check round; {args.workers} API processes; {args.clients} streams; "
        f"POST p95 {result['post_p95'] * 1000:.0f} ms, max {result['post_max'] * 1000:.0f} ms"
    )
    print(report("answer -> event, every (answer, stream)", result["latencies"]))
    print(report("answer -> event, slowest stream per answer", result["worst"]))
    print(report("answer -> browser DOM", result["browser"]) + f"; not shown: {result['browser_missing']}")
    print(
        f"whole-round streams that missed an answer: {result['missing']}; median updates per stream "
        f"{result['updates']:.0f}; median data per stream {result['kb_per_stream']:.0f} KiB"
    )
    if not args.keep:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
