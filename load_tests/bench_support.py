"""Shared pieces of the load benchmarks: a fresh database, synthetic patients, the simulator process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from bcp_service import migrations
from bcp_service.db import make_engine
from bcp_service.models import Municipality, Patient, PatientContact, Prefecture
from bcp_service.models.base import utcnow

ROOT = Path(__file__).resolve().parents[1]
SIM_SID = "AC5130a7000000000000000000000000a1"
SIM_TOKEN = "simulator-auth-token"


def fresh_database(url: str):
    """Drop and recreate the benchmark database (PostgreSQL) or file (SQLite), then migrate."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        base, _, name = url.rpartition("/")
        admin = make_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    engine = make_engine(url)
    migrations.upgrade(engine)
    return engine


def bulk_patients(engine, count: int, *, batch: int = 20_000) -> int:
    """``count`` patients with one mobile number each in one municipality; returns its id."""
    now = utcnow()
    with engine.begin() as conn:
        prefecture_id = conn.execute(
            insert(Prefecture).values(code="47", name="試験県").returning(Prefecture.id)
        ).scalar()
        municipality_id = conn.execute(
            insert(Municipality)
            .values(
                code="472018",
                name="試験市",
                prefecture_id=prefecture_id,
                membership_source="official",
            )
            .returning(Municipality.id)
        ).scalar()
    tiers = ("critical", "high", "standard", "standard")
    for start in range(0, count, batch):
        ids = range(start, min(count, start + batch))
        with engine.begin() as conn:
            conn.execute(
                insert(Patient),
                [
                    {
                        "id": i + 1,
                        "name": f"試験 {i}",
                        "municipality_id": municipality_id,
                        "sex": "unknown",
                        "uses_ventilator": False,
                        "uses_oxygen": True,
                        "uses_suction": False,
                        "medically_dependent_child": False,
                        "backup_hospital_preregistered": False,
                        "status": "active",
                        "risk_tier": tiers[i % 4],
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(PatientContact),
                [
                    {
                        "patient_id": i + 1,
                        "position": 1,
                        "kind": "self",
                        "phone": f"+8170{i:08d}",
                        "preferred_channel": "sms",
                    }
                    for i in ids
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('patient', 'id'), (SELECT MAX(id) FROM patient))"))
    return municipality_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimProcess:
    """``bcp-service twilio-sim`` in its own process, as a load test runs it."""

    def __init__(self, *, rate_limit: float = 0, extra: list[str] | None = None, port: int = 0) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command = [
            str(Path(sys.executable).parent / "bcp-service"),
            "twilio-sim",
            "--port",
            str(self.port),
            "--rate-limit",
            str(rate_limit),
            *(extra or []),
        ]
        env = {**os.environ, "BCP_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/_sim/stats", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("simulator did not start")

    def control(self, method: str, path: str, **kwargs):
        response = httpx.request(method, f"{self.base_url}{path}", timeout=120, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/_sim/reset")

    def stats(self) -> dict:
        return self.control("GET", "/_sim/stats")

    def messages(self, limit: int) -> list[dict]:
        return self.control("GET", "/_sim/messages", params={"limit": limit})["messages"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
