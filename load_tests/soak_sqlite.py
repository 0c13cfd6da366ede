"""Soak: the demo on SQLite under a round, with every page a user opens, for a fixed time.

    .venv/bin/python -m load_tests.soak_sqlite --minutes 10 --patients 3000 --port 18210 --sim-port 18211

Starts ``bcp-service demo`` (its own processes: API, simulator, worker, scheduler; the embedded
SQLite database) in a temporary folder, starts a drill round for the whole prefecture (the
simulator answers on its drill-shaped curve, ``--answer-speed`` compressed so the burst and its
tail fall inside the run), and meanwhile ``--users`` threads loop over what people open: board,
its live stream, print view and CSVs, nurse list and results, BCP .docx, registry list and edit,
CSV export (API and CLI), login and logout, ``users create``. Every response other than the
expected status counts as an error, by route; the demo's log is searched for "database is
locked", tracebacks and ERROR lines. Prints a Markdown table (for RESULTS.md). Stops by itself.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

COMMAND = str(Path(sys.executable).parent / "bcp-service")
PASSWORD = "{}-demo-pass"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def record(self, route: str, started: float, error: str | None) -> None:
        with self.lock:
            self.latency[route].append(time.perf_counter() - started)
            if error:
                self.errors[route].append(error)


def call(rec: Recorder, route: str, fn, expect=(200,)):
    started = time.perf_counter()
    try:
        response = fn()
    except Exception as exc:  # a timeout or a dropped connection is an error too
        rec.record(route, started, type(exc).__name__)
        return None
    error = None if response.status_code in expect else f"HTTP {response.status_code}"
    rec.record(route, started, error)
    return response


def token(base: str, username: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD.format(username)}
    )
    response.raise_for_status()
    return response.json()["access_token"]


def page_login(rec: Recorder, base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = call(rec, "GET /login", lambda: client.get("/login"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1) if form is not None else ""
    call(
        rec,
        "POST /login",
        lambda: client.post(
            "/login",
            data={"username": username, "password": PASSWORD.format(username), "csrf_token": csrf, "next": "/"},
        ),
        expect=(303,),
    )
    return client


def page_logout(rec: Recorder, client: httpx.Client) -> None:
    home = call(rec, "GET /", lambda: client.get("/"))
    match = re.search(r'name="csrf_token" value="([^"]+)"', home.text) if home is not None else None
    if match:
        call(rec, "POST /logout", lambda: client.post("/logout", data={"csrf_token": match.group(1)}), expect=(303,))
        after = client.get("/", follow_redirects=False)
        if after.status_code != 303:
            rec.record("logout ends the session", time.perf_counter(), f"HTTP {after.status_code}")
    client.close()


def stream_once(rec: Recorder, client: httpx.Client, round_id: int) -> None:
    started = time.perf_counter()
    try:
        with client.stream("GET", f"/board/rounds/{round_id}/events", timeout=30) as response:
            if response.status_code != 200:
                rec.record("GET /board/rounds/{id}/events", started, f"HTTP {response.status_code}")
                return
            for line in response.iter_lines():
                if line.startswith("data:"):
                    break
        rec.record("GET /board/rounds/{id}/events", started, None)
    except Exception as exc:
        rec.record("GET /board/rounds/{id}/events", started, type(exc).__name__)


def user_loop(n: int, base: str, ctx: dict, rec: Recorder, stop: threading.Event, data_dir: Path) -> None:
    rng = random.Random(n)
    api = {
        k: httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {v}"})
        for k, v in ctx["tokens"].items()
    }
    rid = ctx["round_id"]
    env = {**os.environ, "BCP_DATABASE_URL": f"sqlite:///{data_dir / 'demo.sqlite3'}"}

    def board(c):
        call(rec, "GET /board", lambda: c.get("/board"))
        call(rec, "GET /board/rounds/{id}", lambda: c.get(f"/board/rounds/{rid}"))
        stream_once(rec, c, rid)
        call(rec, "GET /board/rounds/{id}/print", lambda: c.get(f"/board/rounds/{rid}/print"))
        for kind in ("areas", "priority", "silent"):
            call(
                rec,
                f"GET /board/rounds/{{id}}/export.csv?kind={kind}",
                lambda kind=kind: c.get(f"/board/rounds/{rid}/export.csv", params={"kind": kind}),
            )

    def nurse(c):
        listing = call(rec, "GET /nurse", lambda: c.get("/nurse"))
        ids = [int(i) for i in re.findall(r'id="c(\d+)"', listing.text)] if listing is not None else []
        if ids:
            body = {
                "client_id": secrets.token_hex(8),
                "check_id": rng.choice(ids),
                "state": rng.choice(["safe", "needs_help"]),
                "method": "phone",
                "hours_left": rng.choice([None, 3.0]),
            }
            call(rec, "POST /api/v1/nurse/results", lambda: api["chiba-nurse"].post("/api/v1/nurse/results", json=body))

    def bcp():
        call(
            rec,
            "GET /api/v1/bcp-drafts/{id}.docx",
            lambda: api["chiba-clinic"].get(f"/api/v1/bcp-drafts/{ctx['draft_id']}.docx"),
        )

    def registry():
        listing = call(
            rec,
            "GET /api/v1/patients",
            lambda: api["admin"].get("/api/v1/patients", params={"limit": 50, "offset": rng.randrange(0, 2900)}),
        )
        if listing is not None and listing.status_code == 200 and listing.json()["items"]:
            pid = rng.choice(listing.json()["items"])["id"]
            call(rec, "GET /api/v1/patients/{id}", lambda: api["admin"].get(f"/api/v1/patients/{pid}"))
            call(
                rec,
                "PATCH /api/v1/patients/{id}",
                lambda: api["admin"].patch(
                    f"/api/v1/patients/{pid}", json={"external_battery_hours": rng.choice([4, 6, 8])}
                ),
            )

    def exports():
        call(rec, "GET /api/v1/exports/patients.csv", lambda: api["admin"].get("/api/v1/exports/patients.csv"))
        call(rec, "GET /api/v1/rounds/{id}/summary", lambda: api["chiba-pref"].get(f"/api/v1/rounds/{rid}/summary"))

    def cli():
        started = time.perf_counter()
        out = data_dir / f"export-{n}.csv"
        run = subprocess.run(
            [COMMAND, "export", "patients", "--out", str(out)], env=env, capture_output=True, text=True, timeout=120
        )
        rec.record("CLI export patients", started, None if run.returncode == 0 else (run.stdout + run.stderr)[-200:])
        started = time.perf_counter()
        run = subprocess.run(
            [COMMAND, "users", "create", f"soak-{n}-{secrets.token_hex(3)}", "--role", "admin"],
            env=env,
            input="soak-password-123\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        rec.record("CLI users create", started, None if run.returncode == 0 else (run.stdout + run.stderr)[-200:])

    actions = [("board", "chiba-pref"), ("nurse", "chiba-nurse"), ("bcp", None), ("registry", None), ("exports", None)]
    cycle = 0
    while not stop.is_set():
        name, who = actions[(n + cycle) % len(actions)]
        if who:
            client = page_login(rec, base, who)
            (board if name == "board" else nurse)(client)
            page_logout(rec, client)
        else:
            {"bcp": bcp, "registry": registry, "exports": exports}[name]()
        if n == 0 and cycle % 10 == 5:
            cli()
        cycle += 1
        stop.wait(rng.uniform(0.1, 0.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--answer-speed", type=float, default=3)
    parser.add_argument("--port", type=int, default=18210)
    parser.add_argument("--sim-port", type=int, default=18211)
    parser.add_argument("--keep-log", help="copy the demo's log here")
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="bcp-soak-") as tmp:
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
            report = soak(args, base, data_dir, demo)
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
            f"\ndemo.log: {log.count('database is locked')} 'database is locked', {log.count('Traceback')} tracebacks, "
            f"{len(re.findall(r' ERROR ', log))} ERROR lines, {len(log.splitlines())} lines; "
            f"{log.count('webhook.kept_before_commit')} webhooks answered from the journal before their commit, "
            f"{log.count('sqlite.write_lock_held')} SQLite write locks held 2 s or more"
        )


def soak(args, base: str, data_dir: Path, demo: subprocess.Popen) -> str:
    deadline = time.monotonic() + 300
    while True:
        if demo.poll() is not None:
            raise SystemExit("the demo exited at start")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the demo did not start")
        time.sleep(1)
    time.sleep(3)  # the simulator, worker and scheduler
    tokens = {u: token(base, u) for u in ("admin", "chiba-pref", "chiba-nurse", "chiba-clinic")}
    me = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['chiba-clinic']}"}).json()
    draft = httpx.post(
        f"{base}/api/v1/institutions/{me['scope_id']}/bcp-drafts",
        headers={"Authorization": f"Bearer {tokens['chiba-clinic']}"},
        timeout=60,
    )
    draft.raise_for_status()
    pref = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['chiba-pref']}"}).json()
    started = httpx.post(
        f"{base}/api/v1/rounds",
        headers={"Authorization": f"Bearer {tokens['chiba-pref']}"},
        timeout=120,
        json={"reason": "manual", "drill": True, "target": {"prefecture_id": pref["scope_id"]}},
    )
    started.raise_for_status()
    ctx = {"tokens": tokens, "round_id": started.json()["id"], "draft_id": draft.json()["id"]}
    rec, stop = Recorder(), threading.Event()
    threads = [
        threading.Thread(target=user_loop, args=(n, base, ctx, rec, stop, data_dir), daemon=True)
        for n in range(args.users)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(args.minutes * 60)
    stop.set()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - began
    summary = httpx.get(
        f"{base}/api/v1/rounds/{ctx['round_id']}/summary", headers={"Authorization": f"Bearer {tokens['chiba-pref']}"}
    ).json()
    sim = httpx.get(f"http://127.0.0.1:{args.sim_port}/_sim/stats").json()
    # What the service answered the simulator's webhooks (delivery receipts) and answer taps.
    webhook: dict = defaultdict(int)
    for message in httpx.get(
        f"http://127.0.0.1:{args.sim_port}/_sim/messages", params={"limit": 1_000_000}, timeout=60
    ).json()["messages"]:
        for callback in message.get("callbacks", []):
            webhook[f"receipt {callback['http_status']}"] += 1
        for answer in message.get("answers", []):
            webhook[f"answer {answer['http_status']}"] += 1
    lines = [
        f"{elapsed / 60:.1f} min, {args.users} users, round of {summary['total']:,} checks: {summary['answered']:,} answered, "
        f"messages {summary['messages']}; simulator: {sim}; webhooks answered: {dict(webhook)}",
        "",
        "| route | requests | errors | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for route in sorted(rec.latency):
        values = sorted(rec.latency[route])
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        lines.append(
            f"| {route} | {len(values):,} | {len(rec.errors[route])} | {1000 * statistics.median(values):.0f} | "
            f"{1000 * p95:.0f} | {1000 * values[-1]:.0f} |"
        )
    total = sum(len(v) for v in rec.latency.values())
    errors = sum(len(v) for v in rec.errors.values())
    lines.append(f"| **all** | {total:,} | {errors} | | | |")
    for route, errs in sorted(rec.errors.items()):
        if errs:
            lines.append(f"\n{route}: " + "; ".join(sorted(set(errs))[:5]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
