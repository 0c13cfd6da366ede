"""Sampling profiles of the API processes under load (py-spy), summarised as the functions that
hold the most samples, inclusive and self."""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from load_tests.burst.processes import Proc, ProcessSet

LINE_NUMBER = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start_record(procs: ProcessSet, target: Proc, out: Path, *, seconds: int, rate: int = 67) -> Proc | None:
    """Record the target and its children (uvicorn's workers) for ``seconds``; raw collapsed stacks.

    ``--gil``: only threads holding the GIL are sampled, so the profile shows where the CPU goes.
    Threads waiting for PostgreSQL would otherwise fill it (psycopg's wait is not recognised as idle);
    those waits are measured from pg_stat_activity instead (``PgWaitSampler``).
    """
    binary = py_spy()
    if binary is None:
        return None
    command = [
        binary,
        "record",
        "--pid",
        str(target.pid),
        "--subprocesses",
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        "--gil",
    ]
    return procs.start(f"py-spy-{out.stem}", command, oneshot=True)


def _frame(frame: str) -> str:
    return LINE_NUMBER.sub(")", frame.strip())


def summarise(path: Path, *, top: int = 25) -> dict:
    """Shares of samples per function: inclusive (anywhere on the stack) and self (top of the stack)."""
    if not path.exists():
        return {}
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return {}

    def table(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "inclusive_pct": table(inclusive),
        "self_pct": table(own),
        "by_area_pct": _areas(path, total),
    }


AREAS = (
    ("signature check (twilio RequestValidator)", ("request_validator.py",)),
    ("form parsing (starlette / python-multipart)", ("formparsers.py", "multipart/")),
    ("SQLAlchemy (ORM and Core)", ("sqlalchemy/", "sqlmodel/")),
    ("psycopg (driver, incl. waiting on PostgreSQL)", ("psycopg/",)),
    ("Jinja templates", ("jinja2/",)),
    ("pydantic", ("pydantic/", "pydantic_core")),
    ("logging", ("logging/",)),
    ("audit records", ("bcp_service/audit/",)),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools")),
    ("starlette (routing, responses)", ("starlette/",)),
    ("fastapi (dependencies, validation)", ("fastapi/",)),
    ("HTTP client (httpx, httpcore, h11)", ("httpx/", "httpcore/", "h11/")),
    ("asyncio event loop", ("asyncio/base_events.py",)),
)


def _areas(path: Path, total: int) -> list[tuple[str, float]]:
    """Inclusive share per library area: how much of the time passes through each layer."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        for label, markers in AREAS:
            if any(marker in stack for marker in markers):
                counts[label] += int(count)
    return [(label, round(100 * counts[label] / total, 1)) for label, _ in AREAS]
