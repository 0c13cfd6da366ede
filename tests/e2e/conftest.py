"""End to end: the app served on a thread, the Twilio simulator on another, the worker in the test's loop.

Everything commits (the app, the worker and the simulator's webhooks use their own sessions), so
each test wipes the database afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import insert

from bcp_service.cli.demo import KEEP_ALIVE_SECONDS
from bcp_service.db import make_session_factory
from bcp_service.models import Municipality, Patient, PatientContact, Prefecture
from bcp_service.models.base import utcnow
from notifiers import TwilioNotifier
from tests.dbutil import wipe_database

SENDER_ID = "BCPTEST"  # SMS to Japan: an alphanumeric sender ID (docs/deployment-twilio-japan.md)
CALLER_ID = "+815011112222"  # calls: a 050 number


@dataclass
class Stack:
    app_url: str
    sim: SimProcess
    settings: object
    factory: object

    def notifier(self) -> TwilioNotifier:
        return TwilioNotifier(
            self.sim.account_sid,
            self.sim.auth_token,
            from_number=SENDER_ID,
            caller_id=CALLER_ID,
            base_url=self.sim.base_url,
            max_connections=50,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Until the process answers or exits. A process that dies is reported at once; the deadline is only for
# one that hangs, and is long because on a loaded shared machine importing the app alone took 26 s
# (30 s failed 2 of the first 4 runs of the worker-kill test there).
START_TIMEOUT = 120.0


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: the process did not start within {timeout:.0f} s")


class SimProcess:
    """``bcp-service twilio-sim`` in its own process, driven through its /_sim control endpoints."""

    account_sid = "AC5130a7000000000000000000000000a1"
    auth_token = "simulator-auth-token"

    def __init__(self, *, inbound_url: str) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        command = [
            str(Path(sys.executable).parent / "bcp-service"),
            "twilio-sim",
            "--port",
            str(port),
            "--inbound-url",
            inbound_url,
            "--seed",
            "11",
        ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, "BCP_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(f"{self.base_url}/_sim/stats", self.process)
        except RuntimeError:
            self.stop()  # the fixture never sees this object: stop the process here, or it outlives the test
            raise

    def _control(self, method: str, path: str, **kwargs):
        response = httpx.request(method, f"{self.base_url}{path}", timeout=120, **kwargs)
        response.raise_for_status()
        return response.json()

    def configure(self, **changes):
        return self._control("POST", "/_sim/config", json=changes)

    def stats(self) -> dict:
        return self._control("GET", "/_sim/stats")

    def messages(self, limit: int = 1000) -> list[dict]:
        return self._control("GET", "/_sim/messages", params={"limit": limit})["messages"]

    def flush_callbacks(self, timeout: float = 10.0) -> int:
        return self._control("POST", "/_sim/flush", params={"timeout": timeout})["pending"]

    def inbound(self, *, from_: str, to: str, body: str) -> dict:
        return self._control("POST", "/_sim/inbound", json={"from": from_, "to": to, "body": body})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def stack(engine, settings, database_url):
    """The app and the simulator each in their own process, as deployed; the worker runs in the test."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BCP_DATABASE_URL": database_url,
        "BCP_ENVIRONMENT": "test",
        "BCP_PUBLIC_BASE_URL": app_url,
        "BCP_SECRET_KEY": "test-secret-key-for-tests-only",
        "BCP_TWILIO_AUTH_TOKEN": SimProcess.auth_token,
        "BCP_LOG_LEVEL": "WARNING",
        "BCP_DATA_DIR": str(settings.data_dir),
    }
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bcp_service.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            str(KEEP_ALIVE_SECONDS),
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    sim = None
    try:
        sim = SimProcess(inbound_url=f"{app_url}/webhooks/twilio/inbound")
        sim.configure(callback_statuses=["delivered"], callback_concurrency=20, answer_delay_ms=0)
        wait_until_up(f"{app_url}/healthz", app)
        worker_settings = settings.model_copy(
            update={
                "public_base_url": app_url,
                "webhook_base_url": app_url,
                "notifier": "twilio",
                "twilio_account_sid": sim.account_sid,
                "twilio_auth_token": SecretStr(sim.auth_token),
                "twilio_sms_sender": SENDER_ID,
                "twilio_voice_caller_id": CALLER_ID,
                "twilio_base_url": sim.base_url,
                "send_rate_per_second": 0,
                "send_concurrency": 32,
                "send_batch_size": 200,
                "send_retry_base_seconds": 0.05,
                "send_retry_max_seconds": 0.5,
                "send_idle_poll_seconds": 0.05,
                "send_reclaim_after_seconds": 1.0,
            }
        )
        yield Stack(app_url, sim, worker_settings, make_session_factory(engine))
    finally:
        app.terminate()
        app.wait(10)
        if sim is not None:
            sim.stop()
        wipe_database(engine)


def bulk_patients(engine, count: int, *, second_contact_every: int = 0) -> int:
    """Insert ``count`` patients with Core inserts; returns the municipality id. Phones are +8170 + 8 digits."""
    now = utcnow()
    with engine.begin() as conn:
        prefecture_id = conn.execute(
            insert(Prefecture).values(code="47", name="試験県").returning(Prefecture.id)
        ).scalar()
        municipality_id = conn.execute(
            insert(Municipality)
            .values(code="472018", name="試験市", prefecture_id=prefecture_id, membership_source="official")
            .returning(Municipality.id)
        ).scalar()
        tiers = ["critical", "high", "standard", "standard"]
        patients = [
            {
                "id": 1_000_000 + i,
                "name": f"試験 {i}",
                "municipality_id": municipality_id,
                "sex": "unknown",
                "uses_ventilator": i % 4 == 0,
                "uses_oxygen": i % 4 != 0,
                "uses_suction": False,
                "medically_dependent_child": False,
                "backup_hospital_preregistered": False,
                "status": "active",
                "risk_tier": tiers[i % 4],
                "created_at": now,
            }
            for i in range(count)
        ]
        conn.execute(insert(Patient), patients)
        contacts = [
            {
                "patient_id": 1_000_000 + i,
                "position": 1,
                "kind": "self",
                "phone": f"+8170{i:08d}",
                "preferred_channel": "sms",
            }
            for i in range(count)
        ]
        if second_contact_every:
            contacts += [
                {
                    "patient_id": 1_000_000 + i,
                    "position": 2,
                    "kind": "family",
                    "phone": f"+8180{i:08d}",
                    "preferred_channel": "sms",
                }
                for i in range(0, count, second_contact_every)
            ]
        conn.execute(insert(PatientContact), contacts)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('patient', 'id'), (SELECT MAX(id) FROM patient))"
            )
    return municipality_id
