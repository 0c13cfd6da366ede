"""One Locust phase: headless, bounded in time, in its own process group; its CSVs and journals."""

from __future__ import annotations

import math
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from load_tests.burst.processes import ProcessSet

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "load_tests" / "locustfile.py"
# Locust class name -> the prefix of its LOAD_<PREFIX>_USERS / _RATE variables.
CLASSES = {
    "AnswerPageUser": "ANSWER",
    "SmsReplyUser": "REPLY",
    "ReceiptUser": "RECEIPT",
    "NurseUser": "NURSE",
    "BoardViewer": "VIEWER",
    "BareUser": "BARE",
}


@dataclass
class Load:
    """Users of one class: how many, and iterations per second for all of them together (0 = closed loop)."""

    users: int
    rate: float = 0.0

    @classmethod
    def paced(cls, total_rate: float, *, per_user: float = 2.0) -> Load:
        """Enough users that each runs at most ``per_user`` iterations a second (an open-ish load)."""
        users = max(1, math.ceil(total_rate / per_user))
        return cls(users, total_rate)


@dataclass
class Phase:
    name: str
    host: str
    seconds: int
    loads: dict[str, Load]
    env: dict[str, str] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0
    exit_code: int | None = None

    @property
    def users(self) -> int:
        return sum(load.users for load in self.loads.values())

    def csv_prefix(self, run_dir: Path) -> Path:
        return run_dir / "locust" / self.name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def locust_command(phase: Phase, run_dir: Path, *, processes: int) -> list[str]:
    prefix = phase.csv_prefix(run_dir)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(phase.users),
        "-r",
        str(max(1, phase.users)),
        "--run-time",
        f"{phase.seconds}s",
        "--host",
        phase.host,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--only-summary",
        "--stop-timeout",
        "5",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    if processes > 1:
        # A fresh master port per phase: workers of an earlier phase can never join a later one.
        port = str(free_port())
        command += [
            "--processes",
            str(processes),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--master-host",
            "127.0.0.1",
            "--master-port",
            port,
        ]
    return command + list(phase.loads)


def phase_env(phase: Phase, base: dict[str, str], *, processes: int, journal_dir: Path) -> dict[str, str]:
    env = {
        **base,
        **phase.env,
        "PYTHONPATH": str(ROOT),
        "LOAD_PHASE": phase.name,
        "LOAD_OUT": str(journal_dir),
        "LOAD_PROCESSES": str(max(1, processes)),
        "LOAD_MAX_SECONDS": str(phase.seconds + 60),
    }
    for class_name, load in phase.loads.items():
        key = CLASSES[class_name]
        env[f"LOAD_{key}_USERS"] = str(load.users)
        env[f"LOAD_{key}_RATE"] = f"{load.rate / load.users:.4f}" if load.rate else "0"
    return env


def run_phase(
    procs: ProcessSet, phase: Phase, run_dir: Path, base_env: dict[str, str], *, processes: int, journal_dir: Path
) -> Phase:
    phase.start = time.time()
    if not phase.users:
        # Nothing to load: the phase only lets the system work (sending) for its time.
        time.sleep(phase.seconds)
        phase.end = time.time()
        return phase
    env = phase_env(phase, base_env, processes=processes, journal_dir=journal_dir)
    command = locust_command(phase, run_dir, processes=processes)
    # Locust stops itself after --run-time; the margin covers start-up and the stop timeout.
    phase.exit_code = procs.run(f"locust-{phase.name}", command, env=env, timeout=phase.seconds + 90)
    phase.end = time.time()
    return phase
