"""Audit rows the database cannot take now: kept in a file and appended to the chain when it can (issue 28.2).

A page that shows people (the board, the nurse page, a round) records who saw whom before it answers.
When the database refuses writes (a full disk, a read-only standby, SQLite locked or full) that record
used to be the reason the page failed: a 500 instead of the board that says the database is down. Now
``audit.service.record`` keeps the row here instead (one JSON line, fsynced before the page is sent) and
the page renders; the API's ``/healthz`` (after a successful write) and the worker's maintenance loop
append the kept rows to the chain (``chain.append``: same hashing, their original time ``at``) and delete
the file. When this file cannot be written either, the page fails as before: no read of personal data
goes unrecorded.

The file holds user names, addresses and patient ids (not names): mode 0600 under
``BCP_DATA_DIR/audit-deferred``, deleted once appended.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bcp_service.audit import chain

log = logging.getLogger("bcp_service.audit")
UnitOfWork = Callable[[], AbstractContextManager[Session]]
_directory: Path | None = None


def configure(directory: Path | None) -> None:
    """Where rows are kept (``create_app`` and the worker set it); None: never deferred (rows fail as before)."""
    global _directory
    _directory = None if directory is None else Path(directory)


def directory() -> Path | None:
    return _directory


def keep(row: dict, patient_ids: list[int]) -> bool:
    """Keep one row durably; False when no directory is configured or it cannot be written."""
    if _directory is None:
        return False
    line = (
        json.dumps(
            {"row": {**row, "at": row["at"].isoformat()}, "patient_ids": list(patient_ids)},
            ensure_ascii=False,
            default=str,
        )
        + "\n"
    )
    try:
        _directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = _directory / f"audit-{os.getpid()}.jsonl"
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        _fsync(_directory)
    except OSError as exc:
        log.error("audit.defer_failed", extra={"error": type(exc).__name__})
        return False
    return True


def pending() -> list[Path]:
    if _directory is None or not _directory.is_dir():
        return []
    return sorted(
        p for p in [*_directory.glob("audit-*.jsonl"), *_directory.glob("audit-*.appending")] if p.stat().st_size > 0
    )


def replay(unit_of_work: UnitOfWork) -> int:
    """Append every kept row to the chain (one transaction per file); the number appended. A database
    still away raises and the files stay for the next try."""
    if _directory is None or not _directory.is_dir():
        return 0
    guard = os.open(_directory / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    appended = 0
    try:
        try:
            fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        for path in sorted(_directory.glob("audit-*.jsonl")):
            _claim(path)
        for path in sorted(_directory.glob("audit-*.appending")):
            entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rows = [{**e["row"], "at": datetime.fromisoformat(e["row"]["at"])} for e in entries]
            with unit_of_work() as session:
                chain.append(session, rows, [e["patient_ids"] for e in entries])
                session.commit()
            path.unlink()
            appended += len(rows)
    finally:
        os.close(guard)
    if appended:
        log.warning("audit.deferred_appended", extra={"count": appended})
    return appended


def _claim(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # between two appends
        os.rename(path, path.with_name(f"{path.stem}.{uuid.uuid4().hex}.appending"))
    finally:
        os.close(descriptor)


def _fsync(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
