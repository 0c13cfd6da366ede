"""The fault suite (issue 19): every scenario, one command, a table of what was lost.

    .venv/bin/python -m load_tests.faults.run                 # all scenarios, 300 patients each
    .venv/bin/python -m load_tests.faults.run --only provider_down --outage 90 --patients 2920

Each scenario gets its own SQLite file or its own PostgreSQL cluster (initdb as the postgres user,
port 19490+), a Twilio simulator, an API and a worker on loopback ports 19400-19489. It starts a
round, injects its fault mid-round, waits until nothing is left to send and every accepted
message's status is applied (receipts or reconciliation), then counts: messages sent, sent twice,
patients missed, receipts behind the provider's status, checks whose final state is wrong. Killed
processes are restarted as a supervisor would (that is the fault); nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from load_tests.faults.harness import (
    BIN,
    PgCluster,
    Process,
    Sim,
    count,
    holding,
    pending,
    seed,
    service_env,
    settled,
    start_round,
    stuck,
    up,
    wait_until,
)

SCENARIOS = ("worker_kill9_twice", "provider_down", "provider_errors", "api_kill9_receipts", "pg_fast_restart",
             "pg_crash_10s", "two_workers_pg")


def sent_share(sim: Sim, patients: int) -> float:
    return sim.call("GET", "/_sim/stats").get("accepted", 0) / patients


def run_scenario(name: str, args, port: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
    cluster = PgCluster(19490 + SCENARIOS.index(name) % 9) if name.startswith("pg_") or name.endswith("_pg") else None
    database_url = cluster.url if cluster else f"sqlite:///{work / 'bcp.sqlite3'}"
    api_url, sim_port = f"http://127.0.0.1:{port}", port + 1
    processes: list[Process] = []
    started = time.monotonic()
    try:
        engine = seed(database_url, args.patients)
        sim_env = service_env(database_url, api_url=api_url, sim_url="", data_dir=work)
        sim = Sim(sim_port, work, sim_env)
        env = service_env(database_url, api_url=api_url, sim_url=sim.url, data_dir=work)
        api = Process("api", [str(BIN / "bcp-service"), "serve", "--port", str(port)], env, work)
        processes += [sim.process, api]
        wait_until(lambda: up(f"{api_url}/healthz"), timeout=60, what="the API")
        workers = [Process(f"worker{n}", [str(BIN / "bcp-service"), "worker"], env, work)
                   for n in range(2 if name == "two_workers_pg" else 1)]
        processes += workers
        if name == "provider_errors":
            sim.call("POST", "/_sim/faults", json={
                "api_errors": {"429": 0.05, "500": 0.05, "21611": 0.05, "21211": 0.02, "timeout": 0.01},
                "timeout_seconds": 12, "delivery_errors": {"30001": 0.03, "30003": 0.03, "30005": 0.02}})
        start_round(engine)
        at = lambda share: wait_until(lambda: sent_share(sim, args.patients) >= share, timeout=120,  # noqa: E731
                                      what=f"{share:.0%} sent", every=0.05)
        held = 0
        if name == "worker_kill9_twice":
            for share in (0.2, 0.5):
                at(share)
                workers[0].kill9()
                held += holding(engine)  # what the dead worker held: the only rows that may go twice
                workers[0].restart_after_kill()
        elif name == "provider_down":
            at(0.2)
            sim.call("POST", "/_sim/faults", json={"outage_seconds": args.outage})
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
        wait_until(lambda: settled(engine, sim), timeout=args.timeout, what="the round to settle", every=1)
        result = count(engine, sim)
        result["exited"] = sum(1 for p in processes if not p.alive())
        result["held_by_dead_workers"] = held
        result["seconds"] = round(time.monotonic() - started, 1)
        result["ok"] = (result["missed"] == 0 and result["receipts_behind"] == 0 and result["checks_wrong"] == 0
                        and result["exited"] == 0 and result["sent_twice"] <= held)
        return result
    except TimeoutError as exc:
        try:
            partial = count(engine, sim)
        except Exception:
            partial = {}
        return {**partial, "pending": pending(engine), "stuck": stuck(engine), "error": str(exc), "ok": False,
                "exited": sum(1 for p in processes if not p.alive())}
    finally:
        for process in reversed(processes):
            process.stop()
        if cluster:
            cluster.remove()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="scenarios to run (default: all)")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--outage", type=float, default=30.0, help="provider_down: seconds the provider is down")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds a scenario may take to settle")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's directory (logs, SQLite file)")
    args = parser.parse_args(argv)
    results = {}
    for n, name in enumerate(args.only or SCENARIOS):
        results[name] = run_scenario(name, args, 19400 + 6 * n)
        print(json.dumps({name: results[name]}), flush=True)
    print("\n| scenario | patients | sent | sent twice (held by dead workers) | missed | bad numbers | receipts behind "
          "| checks wrong | processes exited | s | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r.get('patients', '-')} | {r.get('sent', '-')} | {r.get('sent_twice', '-')} "
              f"({r.get('held_by_dead_workers', '-')}) | "
              f"{r.get('missed', '-')} | {r.get('bad_numbers', '-')} | {r.get('receipts_behind', '-')} | {r.get('checks_wrong', '-')} | "
              f"{r.get('exited', '-')} | {r.get('seconds', '-')} | {'yes' if r['ok'] else 'NO ' + r.get('error', '')} |")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
