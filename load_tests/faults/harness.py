"""Processes, databases and counts for the fault suite (load_tests/faults/run.py).

Everything runs on loopback, on ports 19400-19499, each scenario on its own SQLite file or its own
PostgreSQL cluster (initdb as the postgres user into a temporary directory; never the shared one).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import text

from load_tests.bench_support import ROOT, SIM_SID, SIM_TOKEN, bulk_patients, fresh_database

BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SMS_SENDER = "BCPFAULT"  # Japan: SMS from a sender ID, calls from a 050 number
CALLER_ID = "+815011112222"


def wait_until(condition, *, timeout: float, what: str, every: float = 0.2) -> None:
    ends = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > ends:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


class Process:
    """A service process the suite may kill -9 (started in its own session: only it and its children)."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], log_dir: Path, permissions: bool = False
    ) -> None:
        # ``permissions``: file permissions bind the process (root without CAP_DAC_OVERRIDE), as they
        # bind a service user in production; root would write to a read-only file regardless.
        if permissions:
            command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
        self.name, self.command, self.env = name, command, env
        self.log = (log_dir / f"{name}.log").open("ab")
        self.restarts = 0
        self.start()

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def pids(self) -> list[int]:
        """This process and its children (its session)."""
        found = subprocess.run(["pgrep", "-s", str(self.popen.pid)], capture_output=True, text=True).stdout.split()
        return sorted({self.popen.pid, *map(int, found)})

    def limit_file_size(self, size: int | None) -> None:
        """A full disk for this process: writes past ``size`` bytes fail (EFBIG; Python ignores SIGXFSZ).
        None lifts the limit (space freed)."""
        limit = resource.RLIM_INFINITY if size is None else size
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):  # the soft limit only: a hard one needs CAP_SYS_RESOURCE
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def kill9(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def restart_after_kill(self) -> None:
        """What a supervisor (systemd, compose's restart policy) does after a crash."""
        self.restarts += 1
        self.start()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.log.close()


class PgCluster:
    """A private PostgreSQL cluster on its own port, which the suite may restart or crash."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.dir / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{port}/bcp_faults"

    def _as_postgres(self, command: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ctl(self, *args: str) -> None:
        self._as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.dir / "data"),
                "-l",
                str(self.dir / "log"),
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "-w",
                *args,
            ]
        )

    def start(self) -> None:
        self._ctl("start")

    def restart_fast(self) -> None:
        self._ctl("-m", "fast", "restart")

    def crash(self, down_seconds: float) -> None:
        """kill -9 the postmaster, stay down, then start again (crash recovery)."""
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        time.sleep(down_seconds)
        for child in subprocess.run(
            ["pgrep", "-u", "postgres", "-f", f"-p {self.port}"], capture_output=True, text=True
        ).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)  # leftover backends of this cluster only
        (self.dir / "data" / "postmaster.pid").unlink(missing_ok=True)
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class Sim:
    def __init__(self, port: int, log_dir: Path, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = Process(
            "twilio-sim", [str(BIN / "bcp-service"), "twilio-sim", "--port", str(port)], env, log_dir
        )
        wait_until(lambda: up(f"{self.url}/_sim/stats"), timeout=30, what="the simulator")

    def call(self, method: str, path: str, **kwargs):
        response = httpx.request(method, f"{self.url}{path}", timeout=120, **kwargs)
        response.raise_for_status()
        return response.json()


def service_env(database_url: str, *, api_url: str, sim_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("BCP_")}
    return {
        **keep,
        "BCP_ENVIRONMENT": "development",
        "BCP_DATABASE_URL": database_url,
        "BCP_PUBLIC_BASE_URL": api_url,
        "BCP_DATA_DIR": str(data_dir),
        "BCP_SECRET_KEY": "fault-suite-secret",
        "BCP_LOG_LEVEL": "WARNING",
        "BCP_NOTIFIER": "twilio",
        "BCP_TWILIO_BASE_URL": sim_url,
        "BCP_TWILIO_ACCOUNT_SID": SIM_SID,
        "BCP_TWILIO_AUTH_TOKEN": SIM_TOKEN,
        "BCP_TWILIO_SMS_SENDER": SMS_SENDER,
        "BCP_TWILIO_VOICE_CALLER_ID": CALLER_ID,
        "BCP_SEND_RATE_PER_SECOND": "200",
        "BCP_SEND_CONCURRENCY": "20",
        "BCP_SEND_BATCH_SIZE": "50",
        "BCP_SEND_RECLAIM_AFTER_SECONDS": "10",
        "BCP_SEND_RECONCILE_AFTER_MINUTES": "0.2",
        "BCP_SEND_RECONCILE_EVERY_SECONDS": "5",
        "BCP_SEND_RETRY_MAX_SECONDS": "10",
        "BCP_ESCALATION_STEPS": "[]",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def seed(database_url: str, patients: int):
    engine = fresh_database(database_url)
    bulk_patients(engine, patients)
    return engine


def start_round(engine) -> int:
    from bcp_service.config import Settings
    from bcp_service.db import make_session_factory
    from bcp_service.models import Municipality
    from bcp_service.rounds.service import Actor
    from bcp_service.rounds.service import start_round as start
    from bcp_service.rounds.targets import RoundTarget

    settings = Settings(public_base_url="http://127.0.0.1:19400", database_url=str(engine.url))
    with make_session_factory(engine)() as session:
        city = session.query(Municipality).one()
        safety_round, _ = start(
            session=session,
            actor=Actor.system("fault-suite"),
            settings=settings,
            drill=True,
            reason="manual",
            target=RoundTarget(municipality_ids=[city.id]),
        )
        session.commit()
        return safety_round.id


def escalation(engine, steps: int) -> dict[str, int]:
    """Scheduler scenarios: escalation steps taken twice, steps not taken, checks not at the last step."""
    with engine.connect() as connection:
        taken = connection.execute(
            text("SELECT check_id, step, count(*) FROM check_event WHERE kind = 'escalation' GROUP BY check_id, step")
        ).all()
        checks = connection.execute(text("SELECT count(*) FROM safety_check")).scalar() or 0
        unreachable = (
            connection.execute(text("SELECT count(*) FROM safety_check WHERE state = 'unreachable'")).scalar() or 0
        )
    return {
        "steps_twice": sum(n - 1 for _, _, n in taken),
        "steps_missed": checks * steps - len(taken),
        "checks_not_escalated": checks - unreachable,
    }


def follow_ups(engine) -> int:
    """Messages beyond each check's first: hand-overs, 30001 retries, escalation steps."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) - count(DISTINCT check_id) FROM outbox_message")).scalar() or 0


def error_codes(engine) -> dict[str, int]:
    """Messages that ended undelivered or failed, by provider code (30001 retried, 30003 handed over...)."""
    with engine.connect() as connection:
        return dict(
            connection.execute(
                text(
                    "SELECT last_error_code, count(*) FROM outbox_message WHERE state IN ('failed', 'undelivered') "
                    "GROUP BY last_error_code ORDER BY last_error_code"
                )
            ).all()
        )


def follow_ups_twice(engine) -> int:
    """Hand-overs made twice: a second message to the same contact and channel of a check that no
    30001 retry explains (duplicated receipts must not hand a check over twice)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT check_id, contact_id, channel, count(*), "
                "sum(CASE WHEN last_error_code = '30001' THEN 1 ELSE 0 END) FROM outbox_message "
                "GROUP BY check_id, contact_id, channel HAVING count(*) > 1"
            )
        ).all()
    return sum(max(0, n - 1 - retried) for _, _, _, n, retried in rows)


def pending(engine) -> int:
    try:
        with engine.connect() as connection:
            return (
                connection.execute(
                    text("SELECT count(*) FROM outbox_message WHERE state IN ('queued', 'sending')")
                ).scalar()
                or 0
            )
    except Exception:  # the database is down (the scenario's fault): not drained
        return -1


def stuck(engine) -> list[dict]:
    """The rows still pending when a scenario timed out: what to look at (no personal data)."""
    try:
        with engine.connect() as connection:
            return [
                dict(row._mapping) | {"next_attempt_at": str(row.next_attempt_at), "claimed_at": str(row.claimed_at)}
                for row in connection.execute(
                    text(
                        "SELECT id, state, attempts, throttled, next_attempt_at, claimed_by, claimed_at, last_error_code "
                        "FROM outbox_message WHERE state IN ('queued', 'sending') ORDER BY id LIMIT 10"
                    )
                )
            ]
    except Exception:
        return []


def holding(engine) -> int:
    """Rows claimed and not yet recorded (``sending``): what a worker killed now held."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM outbox_message WHERE state = 'sending'")).scalar() or 0


def settled(engine, sim: Sim) -> bool:
    """Nothing left to send, and every accepted message's receipts applied (or reconciled)."""
    if pending(engine) != 0:
        return False
    return count(engine, sim)["receipts_behind"] == 0


def connection_rows(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT to_number, provider_message_id FROM outbox_message WHERE provider_message_id IS NOT NULL")
            )
        ]


def count(engine, sim: Sim) -> dict[str, int]:
    """sent, sent twice, missed, receipts behind, checks wrong: the suite's verdict."""
    accepted = sim.call("GET", "/_sim/messages", params={"limit": 1_000_000, "direction": "outbound-api"})["messages"]
    per_number = Counter(m["to"] for m in accepted)
    truth = {m["sid"]: m["status"] for m in accepted}
    with engine.connect() as connection:
        numbers = [row[0] for row in connection.execute(text("SELECT phone FROM patient_contact"))]
        rows = connection.execute(
            text("SELECT provider_message_id, state, check_id FROM outbox_message WHERE channel = 'sms'")
        ).all()
        states = dict(connection.execute(text("SELECT id, state FROM safety_check")).all())
        all_rows = connection.execute(text("SELECT check_id, state FROM outbox_message")).all()
        # A number the provider refused as invalid is failed and marked, not missed (the check says so).
        refused = {
            row[0]
            for row in connection.execute(
                text(
                    "SELECT to_number FROM outbox_message WHERE state = 'failed' AND last_error_code IN "
                    "('21211', '21614', '21610')"
                )
            )
        }
    behind = sum(1 for provider_id, state, _ in rows if provider_id in truth and truth[provider_id] != state)
    failed_checks = {check for provider_id, state, check in rows if state in ("undelivered", "failed")}
    # A failed SMS is followed by the number's other channel (a call) or the next contact
    # (contacts.choose): the check is right while such a message is still working on it.
    followed = {check for check, state in all_rows if state not in ("undelivered", "failed")}
    wrong = sum(1 for check in failed_checks if states.get(check) != "delivery_failed" and check not in followed)
    # Sent twice: copies the provider accepted beyond our messages to that number that it accepted
    # (a message retried after 30001, or handed over, is a message of its own, not a duplicate).
    ours = Counter(to for to, provider_id in connection_rows(engine) if provider_id in truth)
    twice = sum(max(0, n - max(1, ours[to])) for to, n in per_number.items())
    return {
        "patients": len(numbers),
        "sent": len(per_number),
        "sent_twice": twice,
        "missed": sum(1 for n in numbers if n not in per_number and n not in refused),
        "bad_numbers": len(refused),
        "receipts_behind": behind,
        "checks_wrong": wrong,
    }


# What the pages said (issue 28.5): each scenario looks during its fault, not only counts afterwards.
BANNERS = (
    "system-status",
    "database-status",
    "provider-status",
    "throttle-status",
    "journal-status",
    "webhooks-refused",
    "lane-status",
)


def admin_headers(engine) -> dict[str, str]:
    """A bearer token of an admin (committed), for the status API and the board (pages take bearer tokens)."""
    from bcp_service.auth.secrets import hash_password, new_token, token_hash
    from bcp_service.db import make_session_factory
    from bcp_service.models import ApiToken, User

    token = new_token()
    with make_session_factory(engine)() as session:
        user = User(username="fault-suite-admin", password_hash=hash_password("fault suite only"), role="admin")
        session.add(user)
        session.flush()
        session.add(ApiToken(user_id=user.id, kind="access", token_hash=token_hash(token), prefix=token[:12]))
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def observe(api_url: str, headers: dict[str, str]) -> dict:
    """``/healthz``, the system status's ``down`` and the board's banners (by their HTML ids), now."""
    seen: dict = {}
    try:
        health = httpx.get(f"{api_url}/healthz", timeout=10)
        body = health.json()
        seen.update(
            healthz=health.status_code,
            healthz_journal_writable=body.get("journal", {}).get("writable"),
            healthz_webhooks_refused=body.get("webhooks_refused"),
        )
    except (httpx.HTTPError, ValueError):
        seen["healthz"] = None
    try:
        status = httpx.get(f"{api_url}/api/v1/system/status", headers=headers, timeout=10)
        seen["status"] = status.status_code
        seen["down"] = sorted({f"{d['part']}:{d['state']}" for d in status.json().get("down", [])})
    except (httpx.HTTPError, ValueError):
        seen["status"] = None
    try:
        board = httpx.get(f"{api_url}/board", headers=headers, timeout=10)
        seen["board"] = board.status_code
        seen["banners"] = [name for name in BANNERS if f'id="{name}"' in board.text]
    except httpx.HTTPError:
        seen["board"] = None
    return seen


def block_journal(data_dir: Path, blocked: bool) -> None:
    """The journal directory unwritable for every process, root too (its path a file, as a failed mount
    leaves it); False puts the directory back with what it held."""
    journal, aside = data_dir / "journal", data_dir / "journal.aside"
    if blocked:
        journal.mkdir(exist_ok=True)
        journal.rename(aside)
        journal.write_text("not a directory")
    else:
        journal.unlink()
        aside.rename(journal)


class Watcher:
    """Looks at the pages (``observe``) every second while a fault lasts, in a thread: what each said, at least once."""

    def __init__(self, api_url: str, headers: dict[str, str]) -> None:
        import threading

        self.api_url, self.headers = api_url, headers
        self.healthz: set = set()
        self.down: set[str] = set()
        self.banners: set[str] = set()
        self.board: set = set()
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.take(observe(self.api_url, self.headers))
            self._stop.wait(1.0)

    def take(self, seen: dict) -> None:
        self.healthz.add(seen.get("healthz"))
        self.down.update(seen.get("down", []))
        self.banners.update(seen.get("banners", []))
        self.board.add(seen.get("board"))
        self.refused = max(self.refused, seen.get("healthz_webhooks_refused") or 0)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(30)
        return {
            "healthz_seen": sorted(self.healthz, key=str),
            "down_seen": sorted(self.down),
            "banners_seen": sorted(self.banners),
            "board_seen": sorted(self.board, key=str),
            "webhooks_refused": self.refused,
        }
