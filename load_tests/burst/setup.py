"""The load run's database: created fresh, migrated, seeded, with the accounts the users need."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from bcp_service.auth.roles import Role
from bcp_service.auth.service import create_user, issue_token
from bcp_service.db import make_engine, make_session_factory
from bcp_service.demo.chiba import load_chiba
from bcp_service.demo.synthetic import seed_patients
from bcp_service.models import Institution, Patient, SafetyCheck
from bcp_service.models.enums import InstitutionKind

NURSE_CHECKS = 2000  # check ids handed to each nurse account (its station's patients)


@dataclass
class Accounts:
    admin_token: str
    prefecture_token: str
    nurses: list[dict] = field(default_factory=list)  # username, password, station_id; checks added later


def split_url(url: str) -> tuple[str, str]:
    """(URL of the maintenance database ``postgres`` on the same server, database name)."""
    base, _, name = url.rpartition("/")
    if not name or "?" in name:
        raise ValueError(f"expected postgresql://user@host:port/name, got {url!r}")
    return f"{base}/postgres", name


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def recreate_database(url: str) -> None:
    admin, name = split_url(url)
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    admin, name = split_url(url)
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, patients: int, *, random_seed: int = 42) -> tuple[int, float]:
    """Chiba's structure and ``patients`` synthetic patients (COPY); returns (prefecture id, seconds)."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with make_session_factory(engine)() as session:
            structure = load_chiba(session)
            session.commit()
        seed_patients(engine, patients, seed=random_seed, prefecture_id=structure.prefecture_id)
    finally:
        engine.dispose()
    return structure.prefecture_id, time.perf_counter() - started


def vacuum_analyze(url: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def create_accounts(url: str, *, prefecture_id: int, nurses: int) -> Accounts:
    """An admin and a prefecture officer (bearer tokens), and nurse accounts at the busiest stations."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            admin = create_user(
                session=session, username="load-admin", password=secrets.token_urlsafe(16), role=Role.admin
            )
            officer = create_user(
                session=session,
                username="load-prefecture",
                password=secrets.token_urlsafe(16),
                role=Role.prefecture,
                scope_id=prefecture_id,
            )
            admin_token = issue_token(session=session, user=admin, kind="integration", name="load test").token
            officer_token = issue_token(session=session, user=officer, kind="integration", name="load test").token
            stations = session.execute(
                select(Patient.visiting_nurse_station_id, func.count())
                .join(Institution, Institution.id == Patient.visiting_nurse_station_id)
                .where(Institution.kind == InstitutionKind.visiting_nurse_station)
                .group_by(Patient.visiting_nurse_station_id)
                .order_by(func.count().desc(), Patient.visiting_nurse_station_id)
                .limit(max(1, nurses))
            ).all()
            accounts = []
            for i in range(nurses):
                station_id = stations[i % len(stations)][0]
                password = secrets.token_urlsafe(16)
                create_user(
                    session=session, username=f"load-nurse-{i}", password=password, role=Role.nurse, scope_id=station_id
                )
                accounts.append({"username": f"load-nurse-{i}", "password": password, "station_id": station_id})
            session.commit()
    finally:
        engine.dispose()
    return Accounts(admin_token, officer_token, accounts)


def write_nurse_file(url: str, round_id: int, accounts: Accounts, path: Path) -> int:
    """Each nurse account with the check ids of its station's patients in the round; returns the total."""
    engine = make_engine(url)
    total = 0
    try:
        with engine.connect() as conn:
            for account in accounts.nurses:
                checks = (
                    conn.execute(
                        select(SafetyCheck.id)
                        .join(Patient, Patient.id == SafetyCheck.patient_id)
                        .where(
                            SafetyCheck.round_id == round_id, Patient.visiting_nurse_station_id == account["station_id"]
                        )
                        .order_by(SafetyCheck.id)
                        .limit(NURSE_CHECKS)
                    )
                    .scalars()
                    .all()
                )
                account["checks"] = list(checks)
                total += len(checks)
    finally:
        engine.dispose()
    path.write_text(json.dumps(accounts.nurses))
    path.chmod(0o600)
    return total


def database_size(url: str) -> dict:
    with psycopg.connect(libpq(url)) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        rows = dict(
            conn.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname IN "
                "('patient', 'patient_contact', 'safety_check', 'outbox_message', 'check_answer')"
            ).fetchall()
        )
    return {"bytes": size, "rows": rows}


def postgres_settings(url: str) -> dict:
    names = ("server_version", "max_connections", "shared_buffers", "synchronous_commit", "fsync", "work_mem")
    with psycopg.connect(libpq(url)) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}
