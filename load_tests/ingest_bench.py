"""CPU per request of the burst's write paths under concurrency, in-process (no HTTP, no Locust).

    .venv/bin/python -m load_tests.ingest_bench [--messages 3000] [--concurrency 32]

Against a fresh PostgreSQL database ``bcp_hotpath`` on 127.0.0.1: a round of ``--messages``
patients, every message marked sent; then, each as ``--concurrency`` requests in flight at once
through the ASGI app: delivery receipts, SMS replies ("1"), and answer-page taps (GET the form, then
POST "停電, 3 時間"). Reports per path: requests per second, this process's CPU per request (all
threads), PostgreSQL's CPU per request (its server processes, from /proc), and the group commit's
average batch. hotpath_bench.py measures the same paths one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time

import psutil

from load_tests.burst import wire
from load_tests.hotpath_bench import BASE, TOKEN, build_app, call, prepare


def postgres_cpu() -> dict[tuple[int, float], float]:
    """CPU seconds of each PostgreSQL server process, keyed by (pid, start time)."""
    found = {}
    for process in psutil.process_iter(["name", "create_time"]):
        if process.info["name"] and process.info["name"].startswith("postgres"):
            try:
                times = process.cpu_times()
                found[(process.pid, process.info["create_time"])] = times.user + times.system
            except psutil.Error:
                pass
    return found


def cpu_since(before: dict[tuple[int, float], float]) -> float:
    # Processes that started meanwhile count from zero; those that ended are lost (backends live long here).
    return sum(total - before.get(key, 0.0) for key, total in postgres_cpu().items())


async def run_all(app, jobs, concurrency: int) -> float:
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        while not queue.empty():
            await queue.get_nowait()()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


def status_job(app, signer, message_id, phone):
    params = wire.status_params(
        account_sid="AC", sid=f"SM{message_id}", status="delivered", to=phone, from_="+815000000000"
    )
    headers = {"X-Twilio-Signature": signer.sign(wire.STATUS_PATH, params)}

    async def job():
        response = await call(app, "POST", wire.STATUS_PATH, params, headers)
        assert response["status"] == 204, response

    return job


def reply_job(app, signer, message_id, phone):
    params = wire.reply_params(account_sid="AC", sid=f"SMr{message_id}", from_=phone, to="+815000000000", body="1")
    headers = {"X-Twilio-Signature": signer.sign(wire.INBOUND_PATH, params)}

    async def job():
        response = await call(app, "POST", wire.INBOUND_PATH, params, headers)
        assert response["status"] == 200, response

    return job


def form_job(app, token, nonces: dict):
    async def job():
        page = await call(app, "GET", f"/a/{token}")
        nonces[token] = re.search(rb'name="nonce" value="([^"]+)"', page["body"]).group(1).decode()

    return job


def submit_job(app, token, nonces: dict):
    async def job():
        form = {"state": "power_out", "hours": "3", "note": "", "nonce": nonces[token]}
        response = await call(app, "POST", f"/a/{token}", form)
        assert response["status"] == 200, response

    return job


async def measure(app, name: str, jobs, concurrency: int) -> dict:
    writers_before = {k: (w.batches, w.items) for k, w in app.state.writers.items()}
    cpu, pg = time.process_time(), postgres_cpu()
    wall = await run_all(app, jobs, concurrency)
    cpu, pg = time.process_time() - cpu, cpu_since(pg)
    batches = items = 0
    for key, w in app.state.writers.items():
        b0, i0 = writers_before.get(key, (0, 0))
        batches += w.batches - b0
        items += w.items - i0
    n = len(jobs)
    return {
        "path": name,
        "requests": n,
        "per_s": round(n / wall, 1),
        "cpu_ms": round(1000 * cpu / n, 2),
        "postgres_ms": round(1000 * pg / n, 2),
        "batch": round(items / batches, 1) if batches else 0,
    }


async def main_async(args) -> list[dict]:
    engine, settings, rows = prepare(args.messages)
    app = build_app(settings, engine, routes_before=False)
    signer = wire.Signer(TOKEN, BASE)
    warm = rows[:50]
    await run_all(app, [status_job(app, signer, m, p) for m, _, p in warm], 8)
    rows = rows[50:]
    nonces: dict[str, str] = {}
    results = [
        await measure(app, "webhook status", [status_job(app, signer, m, p) for m, _, p in rows], args.concurrency),
        await measure(app, "webhook inbound", [reply_job(app, signer, m, p) for m, _, p in rows], args.concurrency),
        await measure(app, "answer page GET", [form_job(app, t, nonces) for _, t, _ in rows], args.concurrency),
        await measure(app, "answer page POST", [submit_job(app, t, nonces) for _, t, _ in rows], args.concurrency),
    ]
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    results = asyncio.run(main_async(args))
    print("| path | requests | req/s | CPU ms/request (app) | PostgreSQL ms/request | average batch |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['path']} | {r['requests']} | {r['per_s']} | {r['cpu_ms']} | {r['postgres_ms']} | {r['batch']} |")


if __name__ == "__main__":
    main()
