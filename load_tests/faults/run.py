"""The fault suite (issue 19): every scenario, one command, a table of what was lost.

    .venv/bin/python -m load_tests.faults.run                 # all scenarios, 300 patients each
    .venv/bin/python -m load_tests.faults.run --only provider_down --outage 90 --patients 2920
    .venv/bin/python -m load_tests.faults.run --port-base 18600 --only provider_429_pg journal_read_only_pg_down

Each scenario gets its own SQLite file or its own PostgreSQL cluster (initdb as the postgres user,
port base+90...), a Twilio simulator, API(s), a worker and (scheduler scenarios) scheduler(s) on loopback
ports base..base+89 (``--port-base``, 19400 by default). It starts a round, injects its fault mid-round, waits until nothing is left to send
and every accepted message's status is applied (receipts or reconciliation), then counts: messages
sent, sent twice, patients missed, receipts behind the provider's status, checks whose final state is
wrong, and for the scheduler scenarios escalation steps taken twice or missed. During the fault a
watcher reads ``/healthz``, the system status and the board every second (harness.Watcher, issue 28.5):
what they said is in the result, and ``EXPECT`` names what they must have said. Killed processes are
restarted as a supervisor would (that is the fault); nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from load_tests.faults.harness import (
    BIN,
    PgCluster,
    Process,
    Sim,
    Watcher,
    admin_headers,
    block_journal,
    count,
    error_codes,
    escalation,
    follow_ups,
    follow_ups_twice,
    holding,
    observe,
    pending,
    seed,
    service_env,
    settled,
    start_round,
    stuck,
    up,
    wait_until,
)

SCENARIOS = (
    "worker_kill9_twice",
    "provider_down",
    "provider_errors",
    "api_kill9_receipts",
    "pg_fast_restart",
    "pg_crash_10s",
    "two_workers_pg",
    "sqlite_disk_full",
    "sqlite_read_only",
    "scheduler_kill9_twice",
    "two_schedulers_pg",
    "receipts_twice_two_apis",
    "receipts_twice_two_apis_pg",
    "provider_429_pg",
    "journal_read_only_pg_down",
)
# What the pages must have said during the fault (issue 28.5), read by harness.Watcher: the board's banners
# (HTML ids), the system status's ``down`` parts, /healthz not 200 at least once; ``after``: the board's
# banners once the fault is over; ``refused``: webhooks answered 503 (and retried by the simulator).
EXPECT: dict[str, dict] = {
    "provider_down": {"banners": {"provider-status"}},  # SQLite: the status API waits on a lock (another branch)
    "provider_429_pg": {"banners": {"throttle-status"}, "down": {"provider:throttled"}},
    "pg_crash_10s": {"healthz_not_ok": True},
    "sqlite_disk_full": {"healthz_not_ok": True},
    "journal_read_only_pg_down": {"healthz_not_ok": True, "refused": True, "after": {"webhooks-refused"}},
}
# Scheduler scenarios: no answers (calls are not picked up), three steps within half a minute.
STEPS = [
    {"after_minutes": 0.1, "action": "resend"},
    {"after_minutes": 0.25, "action": "call"},
    {"after_minutes": 0.4, "action": "unreachable"},
]
DOWN_SECONDS = 10.0  # SQLite disk full / read-only: how long before space is freed or permissions fixed


def sent_share(sim: Sim, patients: int) -> float:
    return sim.call("GET", "/_sim/stats").get("accepted", 0) / patients


def _postgres(name: str) -> bool:
    return name.startswith("pg_") or name.endswith("_pg") or "_pg_" in name


def _env_for(name: str) -> dict[str, str]:
    if "scheduler" in name:
        return {
            "BCP_ESCALATION_STEPS": json.dumps(STEPS),
            "BCP_ESCALATION_TIER_STEPS": "{}",
            "BCP_SCHEDULER_TICK_SECONDS": "1",
            "BCP_HEARTBEAT_SECONDS": "2",
            "BCP_ESCALATION_BATCH_SIZE": "20",
        }  # a step spans many transactions: a kill lands mid-step
    if name.startswith("receipts_twice"):
        # Reconciliation off: every receipt must come in through the doors, none fetched afterwards.
        return {"BCP_SEND_RECONCILE_EVERY_SECONDS": "0"}
    if name == "journal_read_only_pg_down":
        # Every receipt through the doors (no reconciliation): a 503 must be retried by "Twilio" (#rc=5).
        return {"BCP_SEND_RECONCILE_EVERY_SECONDS": "0", "BCP_WEBHOOK_RETRY_COUNT": "5"}
    return {}


def expectations_met(name: str, fault: dict) -> bool:
    want = EXPECT.get(name)
    if not want:
        return True
    return (
        want.get("banners", set()) <= set(fault.get("banners_seen", []))
        and want.get("down", set()) <= set(fault.get("down_seen", []))
        and (not want.get("healthz_not_ok") or any(code != 200 for code in fault.get("healthz_seen", [200])))
        and (
            not want.get("refused") or (fault.get("webhooks_refused", 0) > 0 and fault.get("callbacks_retried", 0) > 0)
        )
        and want.get("after", set()) <= set(fault.get("banners_after", []))
    )


def run_scenario(name: str, args, port: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
    cluster = PgCluster(args.port_base + 90 + SCENARIOS.index(name) % 9) if _postgres(name) else None
    database_url = cluster.url if cluster else f"sqlite:///{work / 'bcp.sqlite3'}"
    database_file = work / "bcp.sqlite3"
    api_url, sim_port, api2_port = f"http://127.0.0.1:{port}", port + 1, port + 2
    processes: list[Process] = []
    started = time.monotonic()
    read_only = name == "sqlite_read_only"
    try:
        engine = seed(database_url, args.patients)
        headers = admin_headers(engine)
        sim_env = service_env(database_url, api_url=api_url, sim_url="", data_dir=work)
        sim = Sim(sim_port, work, sim_env)
        env = service_env(database_url, api_url=api_url, sim_url=sim.url, data_dir=work, **_env_for(name))
        if name == "provider_errors":
            sim.call(
                "POST",
                "/_sim/faults",
                json={
                    "api_errors": {"429": 0.05, "500": 0.05, "21611": 0.05, "21211": 0.02, "timeout": 0.01},
                    "timeout_seconds": 12,
                    "delivery_errors": {"30001": 0.03, "30003": 0.03, "30005": 0.02},
                },
            )
        if "scheduler" in name:
            sim.call("POST", "/_sim/config", json={"default_voice_digits": None})  # nobody picks up
        if name.startswith("receipts_twice"):
            # Every status twice at once, one copy to each API process, the later status first; some
            # undelivered (30005: the number takes no SMS, so a call), so a duplicated failure must not
            # hand a check over twice.
            sim.call(
                "POST",
                "/_sim/config",
                json={
                    "callback_copies": 2,
                    "out_of_order_rate": 1.0,
                    "callback_targets": [api_url, f"http://127.0.0.1:{api2_port}"],
                },
            )
            sim.call("POST", "/_sim/faults", json={"delivery_errors": {"30005": 0.05}})  # SMS refused: a call
        round_id = start_round(engine)
        if read_only:
            # The processes find the file read-only (their own connections: SQLite checks permissions
            # when a file is opened, so a chmod under open connections changes nothing).
            _read_only(work, database_file, True)
        api = Process("api", [str(BIN / "bcp-service"), "serve", "--port", str(port)], env, work, permissions=read_only)
        processes += [sim.process, api]
        if name.startswith("receipts_twice"):
            processes.append(Process("api2", [str(BIN / "bcp-service"), "serve", "--port", str(api2_port)], env, work))
            wait_until(lambda: up(f"http://127.0.0.1:{api2_port}/healthz"), timeout=60, what="the second API")
        if not read_only:
            wait_until(lambda: up(f"{api_url}/healthz"), timeout=60, what="the API")
        workers = [
            Process(f"worker{n}", [str(BIN / "bcp-service"), "worker"], env, work, permissions=read_only)
            for n in range(2 if name == "two_workers_pg" else 1)
        ]
        processes += workers
        schedulers = []
        if "scheduler" in name:
            schedulers = [
                Process(f"scheduler{n}", [str(BIN / "bcp-service"), "scheduler"], env, work)
                for n in range(2 if name == "two_schedulers_pg" else 1)
            ]
            processes += schedulers

        def at(share: float) -> None:
            wait_until(
                lambda: sent_share(sim, args.patients) >= share,
                timeout=120,
                what=f"{share:.0%} sent",
                every=0.05,
            )

        held = 0
        fault: dict = {}
        watch = Watcher(api_url, headers) if name in EXPECT else None
        if name == "worker_kill9_twice":
            for share in (0.2, 0.5):
                at(share)
                workers[0].kill9()
                held += holding(engine)  # what the dead worker held: the only rows that may go twice
                workers[0].restart_after_kill()
        elif name == "provider_down":
            at(0.2)
            sim.call("POST", "/_sim/faults", json={"outage_seconds": args.outage})
            time.sleep(args.outage)
        elif name == "provider_429_pg":
            at(0.2)
            sim.call("POST", "/_sim/faults", json={"api_errors": {"429": 1.0}})  # every create refused: 429
            time.sleep(args.outage)
            sim.call("DELETE", "/_sim/faults")
        elif name == "journal_read_only_pg_down":
            at(0.3)
            block_journal(work, True)  # the journal cannot take a line ...
            cluster.crash(args.pg_down)  # ... while PostgreSQL is down: webhooks answer 503
            wait_until(lambda: _status(f"{api_url}/healthz") == 200, timeout=60, what="the API to write again")
            block_journal(work, False)
            fault["banners_after"] = observe(api_url, headers).get("banners", [])
        elif name == "api_kill9_receipts":
            at(0.3)
            api.kill9()
            time.sleep(5)  # receipts posted now find no listener (Twilio retries none of them)
            api.restart_after_kill()
        elif name == "pg_fast_restart":
            at(0.3)
            cluster.restart_fast()
        elif name == "pg_crash_10s":
            at(0.3)
            cluster.crash(10)
        elif name == "sqlite_disk_full":
            at(0.3)
            for process in (api, *workers):
                process.limit_file_size(0)  # no byte more on any file: database, journal, logs
            time.sleep(DOWN_SECONDS)
            fault["healthz_while_full"] = _status(f"{api_url}/healthz")
            time.sleep(1.5)  # the watcher's last look while the disk is full
            for process in (api, *workers):
                process.limit_file_size(None)
        elif name == "sqlite_read_only":
            wait_until(lambda: _status(f"{api_url}/healthz") is not None, timeout=60, what="the API to answer")
            time.sleep(DOWN_SECONDS)
            fault["healthz_while_read_only"] = _status(f"{api_url}/healthz")
            fault["sent_while_read_only"] = sim.call("GET", "/_sim/stats").get("accepted", 0)
            _read_only(work, database_file, False)  # an administrator fixes the permissions
            fixed = time.monotonic()
            wait_until(lambda: _status(f"{api_url}/healthz") == 200, timeout=60, what="the API to write again")
            fault["api_writes_again_after_s"] = round(time.monotonic() - fixed, 1)
        elif name == "scheduler_kill9_twice":
            for taken in (args.patients // 2, args.patients * 3 // 2):  # during the first and the second step
                wait_until(lambda t=taken: _steps_taken(engine) >= t, timeout=120, what=f"{taken} steps taken")
                schedulers[0].kill9()
                schedulers[0].restart_after_kill()
        if watch is not None:
            fault.update(watch.stop())
            watch = None
        wait_until(
            lambda: settled(engine, sim) and ("scheduler" not in name or _escalated(engine, len(STEPS))),
            timeout=args.timeout,
            what="the round to settle",
            every=1,
        )
        result = count(engine, sim)
        result["exited"] = sum(1 for p in processes if not p.alive())
        result["held_by_dead_workers"] = held
        result["restarts"] = sum(p.restarts for p in processes)
        result["follow_ups_twice"] = follow_ups_twice(engine) if "scheduler" not in name else 0
        if "scheduler" in name:
            result.update(escalation(engine, len(STEPS)))
        result.update(fault)
        result["round_id"] = round_id
        stats = sim.call("GET", "/_sim/stats")
        result["callbacks_taken"], result["callbacks_refused"] = (
            stats.get("callbacks_sent", 0),
            stats.get("callbacks_failed", 0),
        )
        result["callbacks_retried"] = stats.get("callbacks_retried", 0)
        result["pages_said_it"] = expectations_met(name, {**fault, "callbacks_retried": result["callbacks_retried"]})
        result["follow_ups"] = follow_ups(engine)
        result["failed_codes"] = error_codes(engine)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["ok"] = (
            result["missed"] == 0
            and result["receipts_behind"] == 0
            and result["checks_wrong"] == 0
            and result["exited"] == 0
            and result["sent_twice"] <= held
            and result["follow_ups_twice"] == 0
            and result.get("steps_twice", 0) == 0
            and result.get("steps_missed", 0) == 0
            and result.get("checks_not_escalated", 0) == 0
            and result["pages_said_it"]
        )
        return result
    except TimeoutError as exc:
        try:
            partial = count(engine, sim)
        except Exception:
            partial = {}
        return {
            **partial,
            "pending": pending(engine),
            "stuck": stuck(engine),
            "error": str(exc),
            "ok": False,
            "exited": sum(1 for p in processes if not p.alive()),
        }
    finally:
        if watch is not None:
            watch.stop()
        for process in reversed(processes):
            process.stop()
        if cluster:
            cluster.remove()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _status(url: str) -> int | None:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def _read_only(work: Path, database: Path, read_only: bool) -> None:
    """The SQLite file, its WAL files and the directory, read-only (or writable again) for the services."""
    for path in sorted(work.glob(database.name + "*")):
        os.chmod(path, 0o444 if read_only else 0o644)
    os.chmod(work, 0o555 if read_only else 0o755)


def _steps_taken(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM check_event WHERE kind = 'escalation'")).scalar() or 0


def _escalated(engine, steps: int) -> bool:
    found = escalation(engine, steps)
    return found["steps_missed"] <= 0 and found["checks_not_escalated"] == 0


def _said(r: dict) -> str:
    """What the pages said during the fault, short: /healthz codes seen, board banners seen (and after)."""
    if "banners_seen" not in r:
        return "-"
    after = f"; after: {' '.join(r['banners_after'])}" if r.get("banners_after") else ""
    return f"healthz {'/'.join(map(str, r['healthz_seen']))}; {' '.join(r['banners_seen']) or 'no banner'}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="scenarios to run (default: all)")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--outage", type=float, default=30.0, help="provider_down: seconds the provider is down")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds a scenario may take to settle")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's directory (logs, SQLite file)")
    parser.add_argument(
        "--port-base",
        type=int,
        default=19400,
        help="loopback ports base..base+98 (services base+6n.., PostgreSQL clusters base+90..)",
    )
    parser.add_argument(
        "--pg-down",
        type=float,
        default=4.0,
        help="journal_read_only_pg_down: seconds PostgreSQL stays down (Twilio retries within 15 s)",
    )
    args = parser.parse_args(argv)
    results = {}
    for n, name in enumerate(args.only or SCENARIOS):
        results[name] = run_scenario(name, args, args.port_base + 6 * n)
        print(json.dumps({name: results[name]}, default=str), flush=True)
    print(
        "\n| scenario | patients | sent | sent twice (held by dead workers) | missed | bad numbers | receipts behind "
        "| checks wrong | follow-ups twice | steps twice / missed | processes exited | pages said | s | ok |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        steps = f"{r['steps_twice']} / {r['steps_missed']}" if "steps_twice" in r else "-"
        print(
            f"| {name} | {r.get('patients', '-')} | {r.get('sent', '-')} | {r.get('sent_twice', '-')} "
            f"({r.get('held_by_dead_workers', '-')}) | "
            f"{r.get('missed', '-')} | {r.get('bad_numbers', '-')} | {r.get('receipts_behind', '-')} | "
            f"{r.get('checks_wrong', '-')} | {r.get('follow_ups_twice', '-')} | {steps} | "
            f"{r.get('exited', '-')} | {_said(r)} | {r.get('seconds', '-')} | {'yes' if r['ok'] else 'NO ' + r.get('error', '')} |"
        )
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
