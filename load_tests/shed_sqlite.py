"""Shedding on SQLite (issue 29.3): how many concurrent users the demo serves with p95 < 1 s during a round,
and what happens at 2x and 5x that (share of 503s, p95, zero 500s, no lost answers).

    .venv/bin/python -m load_tests.shed_sqlite --patients 979 --port 18210 --sim-port 18211

Starts ``bcp-service demo`` (API, Twilio simulator, worker, scheduler; the embedded SQLite database) in a
temporary folder on loopback, starts a drill round for the whole prefecture (the simulator taps the answer
links on its drill curve, ``--answer-speed`` compressed so the burst falls inside the run), then runs
closed-loop users (each one request in flight, no think time: N users are N concurrent requests) over
ordinary pages and API calls for ``--step-seconds`` at each level of ``--levels`` (then ``--extra``). The capacity is the
largest level with p95 < 1 s and no 503; then the same at 2x and 5x it. Answers: every link answer the
simulator was told 200 for must be in the round (``answered`` of the round's summary; the benchmark
itself records no answer). Prints a Markdown table for RESULTS.md and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from load_tests.soak_sqlite import COMMAND, token

USERS = ("admin", "chiba-pref")


async def user(n: int, client: httpx.AsyncClient, ctx: dict, stop: float, out: list) -> None:
    rng = random.Random(n)
    rid, admin, pref = ctx["round_id"], ctx["headers"]["admin"], ctx["headers"]["chiba-pref"]
    mix = [
        ("GET /board/rounds/{id}", lambda: client.get(f"/board/rounds/{rid}", headers=pref)),
        ("GET /api/v1/rounds/{id}/summary", lambda: client.get(f"/api/v1/rounds/{rid}/summary", headers=pref)),
        (
            "GET /api/v1/patients",
            lambda: client.get(
                "/api/v1/patients", headers=admin, params={"limit": 50, "offset": rng.randrange(0, 900)}
            ),
        ),
        (
            "GET /api/v1/patients/{id}",
            lambda: client.get(f"/api/v1/patients/{rng.choice(ctx['patients'])}", headers=admin),
        ),
        (
            "PATCH /api/v1/patients/{id}",
            lambda: client.patch(
                f"/api/v1/patients/{rng.choice(ctx['patients'])}",
                headers=admin,
                json={"external_battery_hours": rng.choice([4, 6, 8])},
            ),
        ),
        ("GET /", lambda: client.get("/", headers=pref)),
    ]
    while time.monotonic() < stop:
        route, send = rng.choice(mix)
        started = time.perf_counter()
        try:
            status = (await send()).status_code
        except Exception as exc:  # a timeout or a dropped connection counts as a failure
            status = type(exc).__name__
        out.append((route, status, time.perf_counter() - started))


async def level(base: str, ctx: dict, users: int, seconds: float) -> list:
    out: list = []
    limits = httpx.Limits(max_connections=users + 4, max_keepalive_connections=users + 4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(user(n, client, ctx, stop, out) for n in range(users)))
    return out


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.95))] if values else 0.0


def row(users: int, out: list, seconds: float) -> tuple[str, dict]:
    statuses = Counter(str(status) for _, status, _ in out)
    ok = [t for _, s, t in out if s == 200]
    shed = [t for _, s, t in out if s == 503]
    facts = {
        "users": users,
        "requests": len(out),
        "ok": len(ok),
        "shed": len(shed),
        "p95": p95([t for _, _, t in out]),
        "p95_ok": p95(ok),
        "errors": sum(n for s, n in statuses.items() if s not in ("200", "503")),
    }
    line = (
        f"| {users} | {len(out):,} | {len(ok) / seconds:.1f} | {100 * len(shed) / max(1, len(out)):.1f} % | "
        f"{1000 * facts['p95']:.0f} | {1000 * facts['p95_ok']:.0f} | {1000 * p95(shed):.0f} | "
        f"{1000 * max((t for _, _, t in out), default=0):.0f} | {facts['errors']} | "
        f"{', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))} |"
    )
    return line, facts


async def run(args, base: str) -> str:
    tokens = {u: token(base, u) for u in USERS}
    headers = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        me = (await client.get("/api/v1/auth/me", headers=headers["chiba-pref"])).json()
        listing = (await client.get("/api/v1/patients", headers=headers["admin"], params={"limit": 500})).json()
        started = await client.post(
            "/api/v1/rounds",
            headers=headers["chiba-pref"],
            json={"reason": "manual", "drill": True, "target": {"prefecture_id": me["scope_id"]}},
        )
        started.raise_for_status()
    ctx = {"headers": headers, "round_id": started.json()["id"], "patients": [p["id"] for p in listing["items"]]}
    lines = [
        "| users | requests | 200/s | 503 share | p95 ms (all) | p95 ms (200) | p95 ms (503) | max ms | other | statuses |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    load = []
    capacity = 0
    for users in args.levels:
        line, facts = row(users, await level(base, ctx, users, args.step_seconds), args.step_seconds)
        lines.append(line)
        load.append(os.getloadavg()[0])
        if facts["p95"] < 1.0 and facts["shed"] == 0 and facts["errors"] == 0:
            capacity = users
        else:
            break
    capacity = capacity or args.levels[0]
    lines.append(f"| **capacity: {capacity}** | | | | | | | | | |")
    for factor in (2, 5):
        line, _ = row(
            capacity * factor, await level(base, ctx, capacity * factor, args.step_seconds), args.step_seconds
        )
        lines.append(line.replace(f"| {capacity * factor} |", f"| {capacity * factor} ({factor}x) |", 1))
        load.append(os.getloadavg()[0])
    for users in args.extra:  # fixed levels, e.g. the outside probe's 240 concurrent requests
        lines.append(row(users, await level(base, ctx, users, args.step_seconds), args.step_seconds)[0])
        load.append(os.getloadavg()[0])
    await asyncio.sleep(args.settle_seconds)  # answers the simulator is still sending
    sim_port = args.sim_port
    async with httpx.AsyncClient(timeout=120) as client:
        summary = (
            await client.get(f"{base}/api/v1/rounds/{ctx['round_id']}/summary", headers=headers["chiba-pref"])
        ).json()
        messages = (await client.get(f"http://127.0.0.1:{sim_port}/_sim/messages", params={"limit": 1_000_000})).json()[
            "messages"
        ]
    taps: Counter = Counter()
    told_ok = set()
    for message in messages:
        for answer in message.get("answers", []):
            if answer.get("skipped"):
                continue
            taps[str(answer["http_status"])] += 1
            if answer["http_status"] == 200:
                told_ok.add(message.get("to") or message.get("sid"))
    lines += [
        "",
        f"Round of {summary['total']:,} checks: {summary['answered']:,} answered; link answers the simulator "
        f"was told 200 for: {len(told_ok):,} people (answer taps by status: {dict(taps)}); "
        f"lost: {max(0, len(told_ok) - summary['answered'])}. Load average (1 min) after each level: "
        + ", ".join(f"{x:.1f}" for x in load),
    ]
    return "\n".join(lines)


def wait_for(base: str, demo: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while True:
        if demo.poll() is not None:
            raise SystemExit("the demo exited at start")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the demo did not start")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=979)
    parser.add_argument(
        "--levels", type=lambda s: [int(x) for x in s.split(",")], default=[2, 4, 8, 12, 16, 24, 32, 48]
    )
    parser.add_argument(
        "--extra",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[],
        help="levels run after 2x and 5x whatever the capacity (the probe's 240)",
    )
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--settle-seconds", type=float, default=20)
    parser.add_argument("--answer-speed", type=float, default=6)
    parser.add_argument("--port", type=int, default=18210)
    parser.add_argument("--sim-port", type=int, default=18211)
    parser.add_argument("--keep-log", help="copy the demo's log here")
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="bcp-shed-") as tmp:
        data_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BCP_")}
        demo = subprocess.Popen(
            [
                COMMAND,
                "demo",
                "--patients",
                str(args.patients),
                "--port",
                str(args.port),
                "--sim-port",
                str(args.sim_port),
                "--data-dir",
                str(data_dir),
                "--answer-speed",
                str(args.answer_speed),
            ],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for(base, demo)
            time.sleep(3)  # the simulator, worker and scheduler
            report = asyncio.run(run(args, base))
        finally:
            demo.send_signal(signal.SIGTERM)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
        log = (data_dir / "demo.log").read_text(encoding="utf-8", errors="replace")
        if args.keep_log:
            Path(args.keep_log).write_text(log, encoding="utf-8")
        print(report)
        print(
            f"\ndemo.log: {log.count('Traceback')} tracebacks, {len(re.findall(r' ERROR ', log))} ERROR lines, "
            f"{log.count('http.shed')} 'http.shed' lines (one per cause per minute), "
            f"{log.count('database is locked')} 'database is locked'"
        )


if __name__ == "__main__":
    main()
