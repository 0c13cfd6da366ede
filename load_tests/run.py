"""The disaster burst, end to end on this machine: one command (see load_tests/README.md).

    .venv/bin/python -m load_tests.run --scenario burst --patients 50000 --duration 120

Creates a fresh PostgreSQL database, migrates and seeds it, starts the system as separate processes
(the Twilio simulator with a rate limit, the API with several processes, send workers, the
scheduler, and a bare FastAPI app served the same way as a yardstick), runs Locust headless phase
by phase, stops everything, checks the database against what Locust saw accepted, and writes
``load_tests/results/<timestamp>-<scenario>/`` (summary.json, summary.md, PNG plots, Locust CSVs,
process logs, profiles). Loopback only; every phase and wait is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx

from load_tests.burst import cpu, report, setup
from load_tests.burst.locust_run import Load, Phase, run_phase
from load_tests.burst.processes import ProcessSet, http_ok, wait_until
from load_tests.burst.profile import start_record
from load_tests.burst.summary import write_outputs
from load_tests.burst.system import bare_command, commands

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SIM_SID = "AC5130a7000000000000000000000000a1"
FROM_NUMBER = "+815011112222"  # the 050 number: caller ID, and where replies are addressed
SMS_SENDER = "BCPLOAD"  # SMS to Japan go from a sender ID (docs/deployment-twilio-japan.md)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=("burst", "sustained"), default="burst")
    p.add_argument(
        "--patients",
        type=int,
        default=50_000,
        help="synthetic patients, all in the round (200000 for the large option)",
    )
    p.add_argument("--duration", type=int, default=120, help="seconds of the burst (or the compressed hour)")
    p.add_argument("--baseline-duration", type=int, default=30, help="seconds against the bare app; 0 skips it")
    p.add_argument("--capacity-duration", type=int, default=60, help="seconds of each capacity phase; 0 skips them")
    p.add_argument(
        "--capacity-users",
        type=int,
        default=64,
        help="concurrent users in baseline and capacity phases (Twilio posts with many connections at "
        "once; each API process's group commit batches what is in flight)",
    )
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bcp_load")
    p.add_argument("--api-workers", type=int, default=2, help="API processes (uvicorn --workers)")
    p.add_argument("--send-workers", type=int, default=2, help="bcp-service worker processes")
    p.add_argument(
        "--send-concurrency",
        type=int,
        default=30,
        help="requests in flight per send worker (httpx's pool degrades sharply past ~40 connections)",
    )
    p.add_argument(
        "--rate-limit", type=float, default=500, help="simulator's messages per second (and the workers' rate)"
    )
    p.add_argument("--sim-latency-ms", type=int, default=50, help="added to every simulator API call")
    p.add_argument("--locust-processes", type=int, default=2, help="Locust worker processes (--processes)")
    p.add_argument(
        "--answer-rps", type=float, default=150, help="burst: answer-page submissions per second (GET + POST each)"
    )
    p.add_argument("--reply-rps", type=float, default=50, help="burst: signed SMS replies per second")
    p.add_argument("--receipt-rps", type=float, default=400, help="burst: signed delivery receipts per second")
    p.add_argument("--nurses", type=int, default=20, help="nurse users (each logs in once)")
    p.add_argument("--nurse-rps", type=float, default=10, help="burst: nurse results per second, all nurses together")
    p.add_argument("--viewers", type=int, default=50, help="board viewers holding live streams")
    p.add_argument(
        "--reply-share", type=float, default=0.25, help="share of messages answered by SMS instead of the link"
    )
    p.add_argument(
        "--profile", default="", help="comma-separated phases to profile the API in with py-spy (e.g. webhooks,answers)"
    )
    p.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    p.add_argument("--log-level", default="WARNING", help="BCP_LOG_LEVEL of the started processes")
    p.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results")
    p.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    p.add_argument(
        "--drain-timeout",
        type=int,
        default=0,
        help="max seconds to wait for sending to finish (default: from patients and rate)",
    )
    return p.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"refusing {url!r}: load tests run against loopback addresses only")


def base_env(args, *, database_url: str, api: str, sim: str, auth_token: str, secret_key: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("BCP_", "LOAD_"))}
    return {
        **keep,
        "BCP_ENVIRONMENT": "development",
        "BCP_DATABASE_URL": database_url,
        "BCP_PUBLIC_BASE_URL": api,
        "BCP_SECRET_KEY": secret_key,
        "BCP_LOG_LEVEL": args.log_level,
        "BCP_NOTIFIER": "twilio",
        "BCP_TWILIO_BASE_URL": sim,
        "BCP_TWILIO_ACCOUNT_SID": SIM_SID,
        "BCP_TWILIO_AUTH_TOKEN": auth_token,
        "BCP_TWILIO_SMS_SENDER": SMS_SENDER,
        "BCP_TWILIO_VOICE_CALLER_ID": FROM_NUMBER,
        # The workers' limit counts segments (every message here is 2); the simulator's counts requests.
        "BCP_SEND_RATE_PER_SECOND": f"{2 * args.rate_limit:g}",
        "BCP_SEND_RATE_UNIT": "segments",
        "BCP_SEND_CONCURRENCY": str(args.send_concurrency),
        "BCP_SEND_BATCH_SIZE": "100",
        "PYTHONUNBUFFERED": "1",
    }


def escalation_steps(duration: int) -> str:
    """The default escalation (15/30/45/60 minutes) compressed like the hour of the sustained scenario."""
    factor = duration / 3600
    steps = [(15, "resend"), (30, "family"), (45, "call"), (60, "unreachable")]
    return json.dumps([{"after_minutes": round(m * factor, 3), "action": a} for m, a in steps])


def start_round(api: str, token: str, prefecture_id: int) -> dict:
    body = {
        "reason": "disaster",
        "drill": True,
        "title": "負荷試験 (load test)",
        "target": {"prefecture_id": prefecture_id},
    }
    requested = time.time()
    response = httpx.post(f"{api}/api/v1/rounds", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=300)
    returned = time.time()
    response.raise_for_status()
    data = response.json()
    return {
        "id": data["id"],
        "requested": requested,
        "returned": returned,
        "target_count": data["target_count"],
        "message_count": data["message_count"],
        "request_seconds": round(returned - requested, 3),
    }


def outbox_pending(api: str, token: str) -> int:
    messages = httpx.get(
        f"{api}/api/v1/outbox/status", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["messages"]
    return int(messages.get("queued", 0)) + int(messages.get("sending", 0))


def harvest_all(sim: str, limit: int, path: Path) -> list[float]:
    """Every message the simulator accepted: (sid, token, number) to a private file; accept times returned."""
    records = httpx.get(
        f"{sim}/_sim/messages", params={"limit": limit, "direction": "outbound-api"}, timeout=600
    ).json()["messages"]
    from load_tests.burst.wire import token_from_body

    with path.open("w") as handle:
        for record in reversed(records):
            handle.write(f"{record['sid']}\t{token_from_body(record.get('body')) or ''}\t{record['to']}\n")
    path.chmod(0o600)
    return [report.parse_sim_time(r["date_created"]) for r in records]


def accept_times(sim: str, limit: int) -> list[float]:
    records = httpx.get(
        f"{sim}/_sim/messages", params={"limit": limit, "direction": "outbound-api"}, timeout=600
    ).json()["messages"]
    return [report.parse_sim_time(r["date_created"]) for r in records]


def system_ready(api: str, token: str, workers: int) -> bool:
    status = httpx.get(f"{api}/api/v1/system/status", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    alive = {c["name"]: c["alive_instances"] for c in status["components"]}
    return alive.get("worker", 0) >= workers and alive.get("scheduler", 0) >= 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_loopback(args.database_url)
    database_url = args.database_url
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = args.out / f"{stamp}-{args.scenario}"
    journal_dir = run_dir / "journal"
    private = Path(tempfile.mkdtemp(prefix="bcp-load-"))  # tokens, passwords, numbers: never in results
    api_port, bare_port, sim_port = args.port or free_port(), free_port(), free_port()
    api, bare, sim = (f"http://127.0.0.1:{p}" for p in (api_port, bare_port, sim_port))
    auth_token = secrets.token_urlsafe(24)
    env = base_env(
        args, database_url=database_url, api=api, sim=sim, auth_token=auth_token, secret_key=secrets.token_urlsafe(32)
    )
    if args.scenario == "sustained":
        env["BCP_ESCALATION_STEPS"] = escalation_steps(args.duration)
        env["BCP_SCHEDULER_TICK_SECONDS"] = "2"
    run_dir.mkdir(parents=True, exist_ok=True)
    summary: dict = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "phases": {},
    }
    print(f"results: {run_dir}", flush=True)
    sampler = pg_waits = None
    phases: list[Phase] = []
    round_info: dict = {}
    accepted: list[float] = []
    profiles: dict[str, Path] = {}
    try:
        with ProcessSet(run_dir / "logs", cwd=ROOT) as procs:
            print("database: create, migrate, seed", flush=True)
            setup.recreate_database(database_url)
            system = commands(
                BIN,
                api_port=api_port,
                sim_port=sim_port,
                api_workers=args.api_workers,
                rate_limit=args.rate_limit,
                sim_latency_ms=args.sim_latency_ms,
            )
            code = procs.run("migrate", system["migrate"], env=env, timeout=600)
            if code != 0:
                raise RuntimeError(f"migration failed ({code}); see {run_dir / 'logs' / 'migrate.log'}")
            prefecture_id, seed_seconds = setup.seed(database_url, args.patients)
            accounts = setup.create_accounts(database_url, prefecture_id=prefecture_id, nurses=args.nurses)
            setup.vacuum_analyze(database_url)
            summary["seed_seconds"] = round(seed_seconds, 1)
            summary["postgres"] = setup.postgres_settings(database_url)
            print(f"  {args.patients:,} patients in {seed_seconds:.1f} s", flush=True)

            sim_proc = procs.start("twilio-sim", system["twilio-sim"], env=env)
            api_proc = procs.start("api", system["api"], env=env)
            bare_proc = procs.start("bare", bare_command(BIN, port=bare_port, workers=args.api_workers), env=env)
            workers = [procs.start(f"worker-{i}", system["worker"], env=env) for i in range(args.send_workers)]
            scheduler = procs.start("scheduler", system["scheduler"], env=env)
            alive = procs.check_alive
            wait_until(http_ok(f"{sim}/_sim/stats"), timeout=60, alive=alive, what="simulator")
            wait_until(http_ok(f"{api}/healthz"), timeout=60, alive=alive, what="API")
            wait_until(http_ok(f"{bare}/healthz"), timeout=60, alive=alive, what="bare app")
            wait_until(
                lambda: system_ready(api, accounts.admin_token, args.send_workers),
                timeout=60,
                alive=alive,
                what="worker and scheduler heartbeats",
            )
            # The simulator's own auth token must be the one the API validates with; callbacks come from Locust.
            httpx.post(
                f"{sim}/_sim/config", json={"auth_token": auth_token, "callback_statuses": []}, timeout=10
            ).raise_for_status()

            sampler = cpu.CpuSampler(
                {
                    "api": lambda: cpu.tree(api_proc.pid),
                    "send workers": lambda: [p for w in workers for p in cpu.tree(w.pid)],
                    "scheduler": lambda: cpu.tree(scheduler.pid),
                    "twilio-sim": lambda: cpu.tree(sim_proc.pid),
                    "bare app": lambda: cpu.tree(bare_proc.pid),
                    "locust": lambda: [
                        p
                        for proc in procs.procs
                        if proc.name.startswith("locust") and proc.alive()
                        for p in cpu.tree(proc.pid)
                    ],
                    "postgresql": lambda: postgres_pids(database_url),
                },
                max_seconds=4 * 3600,
            )
            sampler.start()
            pg_waits = cpu.PgWaitSampler(setup.libpq(database_url), max_seconds=4 * 3600)
            pg_waits.start()
            locust_base = {
                **env,
                "LOAD_SIM_URL": sim,
                "LOAD_WEBHOOK_BASE": api,
                "LOAD_AUTH_TOKEN": auth_token,
                "LOAD_ACCOUNT_SID": SIM_SID,
                "LOAD_FROM_NUMBER": FROM_NUMBER,
                "LOAD_ADMIN_TOKEN": accounts.admin_token,
                "LOAD_PREF_TOKEN": accounts.prefecture_token,
                "LOAD_REPLY_SHARE": str(args.reply_share),
            }
            profile_phases = {p.strip() for p in args.profile.split(",") if p.strip()}

            def run(phase: Phase) -> Phase:
                print(f"phase {phase.name}: {phase.seconds} s, {phase.users} users", flush=True)
                if phase.name in profile_phases:
                    # Skip the ramp: record the middle of the phase, the API and each send worker.
                    seconds = max(5, phase.seconds - 15)
                    targets = [("api", api_proc), *((w.name, w) for w in workers)]
                    for label, target in targets:
                        out = run_dir / f"profile-{phase.name}-{label}.txt"
                        profiles[f"{phase.name}/{label}"] = out
                        threading.Timer(8, start_record, (procs, target, out), {"seconds": seconds}).start()
                phases.append(
                    run_phase(
                        procs, phase, run_dir, locust_base, processes=args.locust_processes, journal_dir=journal_dir
                    )
                )
                alive(["api", "twilio-sim", "scheduler", *(w.name for w in workers)])
                return phase

            if args.baseline_duration:
                run(Phase("baseline", bare, args.baseline_duration, {"BareUser": Load(args.capacity_users)}))

            print("round: starting for the whole prefecture", flush=True)
            round_info = start_round(api, accounts.admin_token, prefecture_id)
            summary["round"] = round_info
            nurse_file = private / "nurses.json"
            summary["nurse_checks"] = setup.write_nurse_file(database_url, round_info["id"], accounts, nurse_file)
            live = {"LOAD_ROUND_ID": str(round_info["id"]), "LOAD_NURSES_FILE": str(nurse_file)}
            loads = {
                "AnswerPageUser": Load.paced(args.answer_rps),
                "SmsReplyUser": Load.paced(args.reply_rps),
                "ReceiptUser": Load.paced(args.receipt_rps),
                "NurseUser": Load(args.nurses, args.nurse_rps),
                "BoardViewer": Load(args.viewers),
            }
            loads = {k: v for k, v in loads.items() if v.users and (v.rate or k == "BoardViewer")}
            main_env = dict(live)
            if args.scenario == "sustained":
                main_env["LOAD_CURVE_SECONDS"] = str(args.duration)
            run(Phase(args.scenario, api, args.duration, loads, main_env))

            drain = args.drain_timeout or int(args.patients / max(1.0, args.rate_limit) * 1.5) + 60
            print(f"sending: waiting for the outbox to drain (at most {drain} s)", flush=True)
            try:
                waited = wait_until(
                    lambda: outbox_pending(api, accounts.admin_token) == 0,
                    timeout=drain,
                    interval=1,
                    alive=alive,
                    what="outbox drained",
                )
                summary["drain_wait_seconds"] = round(waited, 1)
            except TimeoutError as exc:
                summary["drain_wait_seconds"] = None
                summary["drain_note"] = str(exc)
            messages_file = private / "messages.tsv"
            accepted = harvest_all(sim, args.patients * 3, messages_file)
            summary["sim_stats"] = httpx.get(f"{sim}/_sim/stats", timeout=30).json()

            if args.capacity_duration:
                capacity_env = {**live, "LOAD_MESSAGES_FILE": str(messages_file)}
                users = args.capacity_users
                run(
                    Phase(
                        "webhooks",
                        api,
                        args.capacity_duration,
                        {"ReceiptUser": Load(users - users // 4), "SmsReplyUser": Load(users // 4)},
                        capacity_env,
                    )
                )
                run(Phase("answers", api, args.capacity_duration, {"AnswerPageUser": Load(users)}, capacity_env))
                if args.baseline_duration:
                    # The yardstick again after the load, in case the machine got busier meanwhile.
                    run(Phase("baseline-after", bare, args.baseline_duration, {"BareUser": Load(users)}))
            # The send figures use every message the simulator accepted, also those sent after the drain wait.
            accepted = accept_times(sim, args.patients * 3)
            sampler.stop()
            pg_waits.stop()
            summary["database"] = setup.database_size(database_url)
    except KeyboardInterrupt:
        print("interrupted: every process was stopped", file=sys.stderr)
        summary["interrupted"] = True
    finally:
        for thread in (sampler, pg_waits):
            if thread is not None and thread.is_alive():
                thread.stop()
        shutil.rmtree(private, ignore_errors=True)
    try:
        if round_info:
            write_outputs(
                run_dir,
                args=args,
                summary=summary,
                phases=phases,
                sampler=sampler,
                pg_waits=pg_waits,
                round_info=round_info,
                accepted=accepted,
                database_url=database_url,
                journal_dir=journal_dir,
                profiles=profiles,
            )
            print((run_dir / "summary.md").read_text())
    finally:
        if not args.keep_db:
            setup.drop_database(database_url)
    return 0 if not summary.get("interrupted") else 130


def postgres_pids(database_url: str) -> list[int]:
    """Backends of the load database, plus the server's own background processes."""
    import psycopg

    with psycopg.connect(setup.libpq(database_url), connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR backend_type <> 'client backend'"
        ).fetchall()
    return [r[0] for r in rows]


if __name__ == "__main__":
    raise SystemExit(main())
