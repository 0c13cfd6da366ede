"""Receipts, replies, call statuses and keypad answers the database could not take in time are kept, not lost.

Twilio does not retry a webhook answered 5xx (issue 15, item 6) and gives up on one that has not
answered within 15 s. So a webhook whose write fails for a database outage, or cannot commit within
``webhook_commit_wait_seconds`` (a long writer holds SQLite's lock), is appended to a local journal
(one JSON line, fsynced with its directory before Twilio gets its answer) and replayed, through the
same functions, by the API after a later successful write and by the worker's maintenance loop. A
write that was only slow still commits as well: replaying twice is harmless, since statuses only move
up and a reply already recorded is a duplicate.

Appending never waits for a replay's database work. Each process appends to its own file, holding
``flock`` only for a write and an fsync. A replayer (one at a time: ``.replay.lock``) claims a file by
renaming it under that lock; an appender that finds its file renamed under it starts a new one. The
claimed files are then applied (each in one transaction), deleted once committed, and left for the
next replay when the database is still away. An entry that fails alone for another reason (a bug) is
moved to ``rejected-webhooks.jsonl`` and logged as an error for a person, instead of blocking the rest.

The files hold phone numbers and reply texts (personal data): they are created 0600 under
``BCP_DATA_DIR/journal`` and deleted as soon as they are replayed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path

from sqlmodel import Session

from bcp_service import webhook_doors
from bcp_service.db_outage import is_outage
from bcp_service.escalation.voice import KeypadPress
from bcp_service.locking import take_write_lock
from bcp_service.outbox.lookup import apply_statuses_naming_rows
from bcp_service.ratelog import RepeatLog
from bcp_service.rounds import counters
from bcp_service.webhooks.inbound import InboundSms, handle_replies
from bcp_service.webhooks.keypad import apply_presses

log = logging.getLogger("bcp_service.webhooks")
quiet = RepeatLog(log)  # issue 28.4: an outage logs one line per interval, with the count
CHECK_EVERY_SECONDS = 2.0
REJECTED = "rejected-webhooks.jsonl"
UnitOfWork = Callable[[], AbstractContextManager[Session]]


class JournalUnwritable(OSError):
    """No journal location could take the line: the webhook must be answered 5xx (Twilio retries it)."""


class Journal:
    def __init__(self, directory: Path, fallback: Path | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"webhooks-{socket.gethostname()[:40]}-{os.getpid()}.jsonl"
        self._checked_at = 0.0
        # Issue 28.3: a second location (another disk), taking the lines the first refuses; replayed alike.
        self.fallback = Journal(fallback) if fallback and Path(fallback) != self.directory else None

    def append(self, kind: str, item: object) -> None:
        """Keep one webhook durably (the line and the file's name are on disk before this returns).

        Raises ``JournalUnwritable`` when neither this location nor the fallback takes it.
        """
        payload = list(item) if kind == "status" else asdict(item)  # type: ignore[call-overload]
        line = json.dumps({"kind": kind, "item": payload, "at": time.time()}, ensure_ascii=False) + "\n"
        try:
            self._append(line.encode())
            webhook_doors.journal_wrote()
        except OSError as exc:
            webhook_doors.journal_failed()
            quiet.error(
                "webhook.journal_unwritable",
                cause=type(exc).__name__,
                extra={"error": type(exc).__name__, "fallback": self.fallback is not None},
            )
            if self.fallback is None:
                raise JournalUnwritable(str(exc)) from exc
            try:
                self.fallback._append(line.encode())
            except OSError as second:
                quiet.error(
                    "webhook.journal_fallback_unwritable",
                    cause=type(second).__name__,
                    extra={"error": type(second).__name__},
                )
                raise JournalUnwritable(str(second)) from second
            webhook_doors.fell_back()
        quiet.warning("webhook.journaled", cause=kind, extra={"kind": kind})  # one line per interval in an outage

    def _append(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _append_line(self.path, data):
            _fsync_directory(
                self.directory
            )  # the new file's name; a line added to a named file needs only its own fsync

    def pending(self) -> list[Path]:
        """Files with entries still to apply (the fallback's too): appended ones and ones a replayer claimed."""
        try:
            found = [*self.directory.glob("webhooks-*.jsonl"), *self.directory.glob("webhooks-*.replaying")]
            mine = sorted(p for p in found if p.stat().st_size > 0)
        except FileNotFoundError:
            mine = []
        return mine + (self.fallback.pending() if self.fallback else [])

    def due(self) -> bool:
        """Cheap enough for every webhook: looks at the directory at most every couple of seconds."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_SECONDS:
            return False
        self._checked_at = now
        return bool(self.pending())

    def replay(self, unit_of_work: UnitOfWork) -> int:
        """Apply every journaled webhook (the fallback's too); returns how many entries were applied (or rejected).

        A database still away raises, and the claimed files stay for the next try.
        """
        replayed = self._replay(unit_of_work)
        if self.fallback is not None:
            replayed += self.fallback._replay(unit_of_work)
        return replayed

    def _replay(self, unit_of_work: UnitOfWork) -> int:
        if not self.directory.is_dir():
            return 0
        guard = os.open(self.directory / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is replaying
            for path in sorted(self.directory.glob("webhooks-*.jsonl")):
                _claim(path)
            replayed = 0
            for path in sorted(self.directory.glob("webhooks-*.replaying")):
                replayed += self._apply_file(path, unit_of_work)
        finally:
            os.close(guard)  # closing releases the lock
        if replayed:
            log.warning("webhook.journal_replayed", extra={"count": replayed})
        return replayed

    def _apply_file(self, path: Path, unit_of_work: UnitOfWork) -> int:
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:  # a line cut short by a crash: its webhook was never answered
                if line.strip():
                    log.warning("webhook.journal_torn_line")
        try:
            _apply(unit_of_work, entries)
        except Exception as exc:
            if is_outage(exc):
                raise
            for entry in entries:  # one bad entry must not hold up the others
                try:
                    _apply(unit_of_work, [entry])
                except Exception as alone:
                    if is_outage(alone):
                        raise
                    self._reject(entry, alone)
        path.unlink()
        _fsync_directory(self.directory)
        return len(entries)

    def _reject(self, entry: dict, error: Exception) -> None:
        line = json.dumps({**entry, "error": type(error).__name__}, ensure_ascii=False) + "\n"
        _append_line(self.directory / REJECTED, line.encode())
        log.error(
            "webhook.journal_entry_rejected",
            extra={"kind": entry.get("kind"), "error": type(error).__name__, "file": REJECTED},
        )


def _apply(unit_of_work: UnitOfWork, entries: list[dict]) -> None:
    statuses = [tuple(e["item"]) for e in entries if e["kind"] == "status"]
    replies = [InboundSms(**e["item"]) for e in entries if e["kind"] == "inbound"]
    presses = [KeypadPress(**e["item"]) for e in entries if e["kind"] == "voice"]
    with unit_of_work() as session:
        take_write_lock(session)
        with counters.deferred(session):  # as the group commit applies them
            if statuses:
                apply_statuses_naming_rows(session, statuses)
            if replies:
                handle_replies(session, replies)
            if presses:  # keypad answers: idempotent per call (``voice:{CallSid}``), like replies per SMS
                apply_presses(session, presses)
        session.commit()


def _append_line(path: Path, data: bytes) -> bool:
    """Append and fsync one line; True when this line began the file (its name is not yet durable)."""
    while True:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if _is_at(descriptor, path):
                began = os.fstat(descriptor).st_size == 0
                os.write(descriptor, data)
                os.fsync(descriptor)
                return began
        finally:
            os.close(descriptor)  # closing releases the lock
        # A replayer renamed the file between our open and our lock: append to a new one.


def _claim(path: Path) -> None:
    """Rename a live file for replay, between two appends (the lock is held only for the rename)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        if _is_at(descriptor, path) and os.fstat(descriptor).st_size > 0:
            os.rename(path, path.with_name(f"{path.stem}.{uuid.uuid4().hex}.replaying"))
            _fsync_directory(path.parent)
    finally:
        os.close(descriptor)


def _is_at(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def journal_for(app) -> Journal:
    journal = getattr(app.state, "webhook_journal", None)
    if journal is None:
        journal = app.state.webhook_journal = journal_of(app.state.settings)
    return journal


def journal_of(settings) -> Journal:
    """The journal the settings name: ``BCP_DATA_DIR/journal``, and the optional second location."""
    return Journal(Path(settings.data_dir) / "journal", settings.webhook_journal_fallback_dir)
