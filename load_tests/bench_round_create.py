"""Time to create and fully queue a 200,000-patient round (target: at most 10 s on PostgreSQL).

    python -m load_tests.bench_round_create --database-url postgresql://postgres@127.0.0.1:5432/bcp_bench

Builds a fresh database with the Chiba structure and synthetic patients (``bcp-service seed``'s
code), then starts one round for the whole prefecture through ``start_round`` and commits: checks,
one outbox message per reachable patient, tokens and counters, in one transaction.

``--landline-fifth``: every contact of a fifth of the patients gets a landline number (043), so those
patients are called instead of texted and their first message is chosen in Python (rounds.creation).
"""

from __future__ import annotations

import argparse
import json
import time

from sqlalchemy import func, select, text

from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.demo.chiba import load_chiba
from bcp_service.demo.synthetic import seed_patients
from bcp_service.logs import configure_logging
from bcp_service.models import OutboxMessage, Patient, SafetyCheck
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from load_tests.bench_support import fresh_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--patients",
        type=int,
        default=206_000,
        help="synthetic patients (about 3%% are inactive, so 206,000 gives 200,000 targets)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the database and its patients from a previous run")
    parser.add_argument(
        "--landline-fifth",
        action="store_true",
        help="give every contact of a fifth of the patients a landline number (they are called)",
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    if args.reuse:
        from bcp_service.db import make_engine

        engine = make_engine(args.database_url)
    else:
        engine = fresh_database(args.database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        structure = load_chiba(session)
        session.commit()
        existing = session.execute(select(func.count()).select_from(Patient)).scalar()
    if existing < args.patients:
        started = time.perf_counter()
        seed_patients(engine, args.patients - existing, seed=42, prefecture_id=structure.prefecture_id)
        print(f"seeded {args.patients - existing:,} patients in {time.perf_counter() - started:.1f} s")
    if args.landline_fifth:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE patient_contact SET phone = '+81431' || substr(CAST(1000000 + id % 1000000 AS TEXT), 2)"
                    " WHERE patient_id % 5 = 0"
                )
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    settings = Settings(
        database_url=args.database_url, environment="test", public_base_url="https://anpi.pref.chiba.lg.jp"
    )
    with factory() as session:
        started = time.perf_counter()
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("bench"),
            settings=settings,
            drill=True,
            reason="manual",
            target=RoundTarget(prefecture_id=structure.prefecture_id),
        )
        queued_at = time.perf_counter()
        session.commit()
        committed = time.perf_counter()
    with factory() as session:
        by_channel = dict(
            session.execute(
                select(OutboxMessage.channel, func.count())
                .where(OutboxMessage.round_id == safety_round.id)
                .group_by(OutboxMessage.channel)
            ).all()
        )
        checks = session.execute(
            select(func.count()).select_from(SafetyCheck).where(SafetyCheck.round_id == safety_round.id)
        ).scalar()
        messages = session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)
        ).scalar()
    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "checks": checks,
                "messages_queued": messages,
                "by_channel": by_channel,
                "no_contact": safety_round.no_contact_count,
                "start_round_s": round(queued_at - started, 2),
                "created_and_committed_s": round(committed - started, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
