"""Registry benchmarks on PostgreSQL: seeding 200,000 patients, and the filtered, paginated patient list.

    .venv/bin/python load_tests/bench_registry.py [--patients 200000] [--requests 400]

Creates (and drops) its own database ``bcp_bench_registry`` on 127.0.0.1:5432. The list is measured
through the real HTTP stack (uvicorn on loopback, one process) with an admin token, over a mix of
filters, each request also writing its audit record as in production.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcp_service import migrations  # noqa: E402
from bcp_service.db import make_engine, make_session_factory  # noqa: E402
from bcp_service.demo.chiba import load_chiba  # noqa: E402
from bcp_service.demo.synthetic import seed_patients  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DB = "bcp_bench_registry"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
PORT = 8765


def recreate_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    recreate_database()
    engine = make_engine(URL)
    migrations.upgrade(engine)
    with make_session_factory(engine)() as session:
        structure = load_chiba(session)
        from bcp_service.auth.service import create_user, issue_token

        admin = create_user(session=session, username="bench-admin", password="bench-password-1", role="admin")
        token = issue_token(session=session, user=admin, kind="integration", name="bench").token
        session.commit()
    started = time.perf_counter()
    seed_patients(engine, args.patients, seed=1, prefecture_id=structure.prefecture_id)
    seed_seconds = time.perf_counter() - started
    # What autovacuum does shortly after a bulk load; index-only counts need the visibility map.
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"seed: {args.patients:,} patients in {seed_seconds:.1f} s")

    municipalities = list(structure.municipality_ids.values())
    regions = list(structure.region_ids.values())
    rng = random.Random(3)
    queries = [
        lambda: {"municipality_id": rng.choice(municipalities)},
        lambda: {"region_id": rng.choice(regions), "therapy": "ventilator"},
        lambda: {"risk_tier": "critical", "prefecture_id": structure.prefecture_id, "offset": rng.randint(0, 2000)},
        lambda: {"therapy": "oxygen", "status": "active", "offset": rng.randint(0, 5000)},
        lambda: {"q": rng.choice(["佐藤", "スズキ", "花子", "タロウ"])},
        lambda: {"region_id": rng.choice(regions), "risk_tier": "high", "therapy": "oxygen"},
    ]
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
            "--log-level",
            "warning",
        ],
        env={"BCP_DATABASE_URL": URL, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            for _ in range(100):
                try:
                    client.get("/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for _ in range(30):  # warm-up
                client.get("/api/v1/patients", params={**rng.choice(queries)(), "limit": 50})
            timings = []
            totals = []
            for i in range(args.requests):
                params = {**queries[i % len(queries)](), "limit": 50}
                t0 = time.perf_counter()
                response = client.get("/api/v1/patients", params=params)
                timings.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                totals.append(response.json()["total"])
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"list: {len(timings)} requests, p50 {statistics.median(timings):.1f} ms, "
        f"p95 {percentile(timings, 95):.1f} ms, p99 {percentile(timings, 99):.1f} ms, max {max(timings):.1f} ms; "
        f"median total matched {statistics.median(totals):,.0f}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
