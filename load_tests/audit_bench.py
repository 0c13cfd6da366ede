"""Audit benchmarks (issues 23.3 and 27.3): the chained append's cost per row, and /audit on a million events.

    .venv/bin/python load_tests/audit_bench.py [--engine postgresql|sqlite] [--events 1000000] [--appends 2000]

PostgreSQL: creates (and drops) its own database ``bcp_h_audit_bench`` on 127.0.0.1:5432; SQLite: a
file in a temporary directory. Steps:

1. Append cost: ``--appends`` single-event transactions through ``audit.service.record`` (the chain's
   lock, the last-hash read, the insert, a patient link, the commit), against the same number of
   plain inserts of the same row without the chain; then 500-row batches (``chain.append`` as the
   public answers' group commit writes them).
2. ``--events`` events bulk-loaded with their chain (1.5 patient links each on average, 20,000
   patients, 300 accounts, 40 actions, 60 days), ``audit verify`` timed over them, then the /audit
   page (in-process, the real app: access check, queries, its own audit row, the Japanese template)
   as an admin with each filter: none, patient, account, action, a day, patient and action, and
   20 keyset pages deep.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bcp_service import migrations  # noqa: E402
from bcp_service.app import create_app  # noqa: E402
from bcp_service.audit import chain  # noqa: E402
from bcp_service.audit.display import ACTIONS  # noqa: E402
from bcp_service.auth.deps import SESSION_COOKIE  # noqa: E402
from bcp_service.auth.service import create_user, start_web_session  # noqa: E402
from bcp_service.config import Settings  # noqa: E402
from bcp_service.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from bcp_service.demo.chiba import load_chiba  # noqa: E402
from bcp_service.demo.synthetic import seed_patients  # noqa: E402
from bcp_service.models import AuditEvent, AuditEventPatient  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "bcp_h_audit_bench"
PATIENTS, ACCOUNTS, DAYS = 20_000, 300, 60


def database(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'audit.sqlite3'}"
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    return f"postgresql://postgres@127.0.0.1:5432/{DB}"


def _unchained(session, rows, patient_ids) -> None:
    """The same inserts as ``chain.append`` without the lock, the head read and the hashes: the baseline."""
    ids = [r[0] for r in session.execute(chain._insert_events, [{k: r.get(k) for k in chain.HASHED} for r in rows])]
    links = [{"event_id": e, "patient_id": p} for e, ps in zip(ids, patient_ids, strict=True) for p in ps]
    if links:
        session.execute(insert(AuditEventPatient), links)


def append_cost(factory, n: int) -> None:
    """Run last: the baseline rows have no hash and end the chain (``verify`` is timed before)."""

    def row():
        return {
            "at": datetime.now(UTC),
            "user_id": 1,
            "username": "bench-hub",
            "role": "hub",
            "action": "patient.read",
            "resource": "GET /api/v1/patients/{patient_id}",
            "patient_count": 1,
            "address": "127.0.0.1",
            "detail": None,
            "changes": None,
        }

    for size, count in ((1, n), (500, max(4, n // 100))):
        timings: dict[str, list[float]] = {"chained": [], "plain": []}
        for i in range(count):
            for kind, write in (("chained", chain.append), ("plain", _unchained)):
                rows = [row() for _ in range(size)]
                t0 = time.perf_counter()
                with unit_of_work(factory) as session:
                    write(session, rows, [[(i * size + j) % PATIENTS + 1] for j in range(size)])
                timings[kind].append((time.perf_counter() - t0) * 1000)
        chained, base = statistics.median(timings["chained"]), statistics.median(timings["plain"])
        print(
            f"append {size:3} row(s) a transaction, {count} transactions: median {chained:.2f} ms chained vs {base:.2f} ms "
            f"without the chain: +{(chained - base) / size * 1000:.0f} µs per row"
        )


def bulk_load(engine, n: int) -> None:
    """``n`` events with their chain, written straight (as the app would have over months)."""
    rng = random.Random(5)
    actions = [a for a in ACTIONS if a != "audit.read"]
    start = datetime.now(UTC) - timedelta(days=DAYS)
    with engine.connect() as conn:
        previous = conn.execute(
            text("SELECT chain_hash FROM audit_event WHERE chain_hash IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).scalar()
        first_id = (conn.execute(text("SELECT max(id) FROM audit_event")).scalar() or 0) + 1
    previous = previous or chain.GENESIS
    batch, t0 = 20_000, time.perf_counter()
    for offset in range(0, n, batch):
        events, links = [], []
        for k in range(offset, min(n, offset + batch)):
            account = rng.randint(1, ACCOUNTS)
            patients = sorted(rng.sample(range(1, PATIENTS + 1), rng.choice((0, 1, 1, 1, 2, 3))))
            row = {
                "id": first_id + k,
                "at": start + timedelta(seconds=k * DAYS * 86400 / n),
                "user_id": account,
                "username": f"user-{account}",
                "role": "hub",
                "action": rng.choice(actions),
                "resource": "GET /api/v1/patients/{patient_id}",
                "patient_count": len(patients),
                "address": "10.0.0.1",
                "detail": f"round {k % 50}",
                "changes": None,
            }
            previous = chain.link(previous, row, patients)
            events.append(row | {"chain_hash": previous})
            links += [{"event_id": row["id"], "patient_id": p} for p in patients]
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent.__table__), events)
            if links:
                conn.execute(
                    text("INSERT INTO audit_event_patient (event_id, patient_id) VALUES (:event_id, :patient_id)"),
                    links,
                )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('audit_event_id_seq', (SELECT max(id) FROM audit_event))"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does after a bulk load, the patients' too
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"load: {n:,} events with their chain in {time.perf_counter() - t0:.0f} s")


def seed_registry(engine) -> int:
    """Chiba with ``PATIENTS`` patients, so the events name real patients of one prefecture."""
    with make_session_factory(engine)() as session:
        structure = load_chiba(session)
        session.commit()
    seed_patients(engine, PATIENTS, seed=1, prefecture_id=structure.prefecture_id)
    return structure.prefecture_id


def page_timings(url: str, engine, requests: int, prefecture_id: int) -> None:
    settings = Settings(database_url=url, environment="test", data_dir=Path(tempfile.mkdtemp()))
    app = create_app(settings)
    with make_session_factory(engine)() as session:
        admin = create_user(session=session, username="bench-admin", password="bench-password-1", role="admin")
        token, _ = start_web_session(session=session, user=admin, settings=settings)
        officer = create_user(
            session=session,
            username="bench-pref",
            password="bench-password-1",
            role="prefecture",
            scope_id=prefecture_id,
        )
        officer_token, _ = start_web_session(session=session, user=officer, settings=settings)
        session.commit()
    rng = random.Random(9)
    day = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    filters = {
        "none": lambda: {},
        "patient": lambda: {"patient_id": str(rng.randint(1, PATIENTS))},
        "account": lambda: {"username": f"user-{rng.randint(1, ACCOUNTS)}"},
        "action": lambda: {"action": rng.choice(["patient.update", "round.check.read", "board.view"])},
        "day": lambda: {"since": day, "until": day},
        "patient+action": lambda: {"patient_id": str(rng.randint(1, PATIENTS)), "action": "patient.read"},
    }
    with TestClient(app, cookies={SESSION_COOKIE: token}) as client:
        client.get("/audit")  # warm-up
        for name, make in filters.items():
            timings = []
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get("/audit", params=make())
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.status_code
            print(
                f"page {name:15} p50 {statistics.median(timings):7.1f} ms  max {max(timings):7.1f} ms  "
                f"({response.text.count('<tr><td>')} rows, {re.search(r'<p><strong>([^<]+)</strong>', response.text).group(1)})"
            )
        timings, query = [], ""
        for _ in range(20):
            t0 = time.perf_counter()
            response = client.get(f"/audit?{query}")
            timings.append((time.perf_counter() - t0) * 1000)
            query = re.search(r'href="/audit\?([^"]*before=\d+)"', response.text).group(1).replace("&amp;", "&")
        print(f"page keyset x20    p50 {statistics.median(timings):7.1f} ms  max {max(timings):7.1f} ms  (to {query})")
    with TestClient(app, cookies={SESSION_COOKIE: officer_token}) as client:
        for name, params in (
            ("prefecture", {}),
            ("prefecture+patient", {"patient_id": "77"}),
            ("prefecture+action", {"action": "patient.update"}),
        ):
            timings = []
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get("/audit", params=params)
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.status_code
            print(
                f"page {name:18} p50 {statistics.median(timings):7.1f} ms  max {max(timings):7.1f} ms  "
                f"({response.text.count('<tr><td>')} rows, {re.search(r'<p><strong>([^<]+)</strong>', response.text).group(1)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = database(args.engine, Path(tmp))
        engine = make_engine(url)
        migrations.upgrade(engine)
        print(f"engine {args.engine}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        prefecture_id = seed_registry(engine)
        bulk_load(engine, args.events)
        t0 = time.perf_counter()
        with make_session_factory(engine, read_only=True)() as session:
            verdict = chain.verify(session)
        print(f"verify: {verdict.checked:,} rows in {time.perf_counter() - t0:.1f} s, ok={verdict.ok}")
        page_timings(url, engine, args.requests, prefecture_id)
        append_cost(make_session_factory(engine), args.appends)
        print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        engine.dispose()
    if args.engine == "postgresql":
        import psycopg

        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
