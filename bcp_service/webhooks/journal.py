"""Receipts and replies that arrive while the database cannot be written are kept, not lost.

Twilio does not retry a webhook answered 5xx (issue 15, item 6): during a database restart 90
status callbacks were refused and 45 messages stayed behind their true status (issue 19). So a
webhook whose write fails for a database outage is appended to a local journal (one JSON line,
fsynced before Twilio gets its answer) and replayed, through the same functions, when the database
is back: by the API after its next successful write, and by the worker's maintenance loop.
Replaying twice is harmless: statuses only move up, and a reply already recorded is a duplicate.

The files hold phone numbers and reply texts (personal data): they are created 0600 under
``BCP_DATA_DIR/journal`` and emptied as soon as they are replayed. Each process appends to its own
file; a replayer locks a file (``flock``) while it reads, applies, commits and empties it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path

from sqlmodel import Session

from bcp_service.locking import take_write_lock
from bcp_service.outbox.delivery import apply_statuses
from bcp_service.rounds import counters
from bcp_service.webhooks.inbound import InboundSms, handle_replies

log = logging.getLogger("bcp_service.webhooks")
CHECK_EVERY_SECONDS = 2.0


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"webhooks-{socket.gethostname()[:40]}-{os.getpid()}.jsonl"
        self._checked_at = 0.0

    def append(self, kind: str, item: object) -> None:
        """Keep one webhook durably (the line is on disk before this returns)."""
        payload = list(item) if kind == "status" else asdict(item)  # type: ignore[call-overload]
        line = json.dumps({"kind": kind, "item": payload, "at": time.time()}, ensure_ascii=False) + "\n"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)  # closing releases the lock
        log.warning("webhook.journaled", extra={"kind": kind})

    def pending(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.glob("webhooks-*.jsonl") if p.stat().st_size > 0)
        except FileNotFoundError:
            return []

    def due(self) -> bool:
        """Cheap enough for every webhook: looks at the directory at most every couple of seconds."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_SECONDS:
            return False
        self._checked_at = now
        return bool(self.pending())

    def replay(self, unit_of_work: Callable[[], AbstractContextManager[Session]]) -> int:
        """Apply every journaled webhook (each file in one transaction); returns how many were applied.

        A database still away raises, and the file stays as it was for the next try.
        """
        replayed = 0
        for path in self.pending():
            descriptor = os.open(path, os.O_RDWR)
            try:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another replayer (or the appender) has it
                with os.fdopen(os.dup(descriptor), encoding="utf-8") as handle:
                    entries = [json.loads(line) for line in handle if line.strip()]
                statuses = [tuple(e["item"]) for e in entries if e["kind"] == "status"]
                replies = [InboundSms(**e["item"]) for e in entries if e["kind"] == "inbound"]
                with unit_of_work() as session:
                    take_write_lock(session)
                    with counters.deferred(session):  # as the group commit applies them
                        if statuses:
                            apply_statuses(session, statuses)  # type: ignore[arg-type]
                        if replies:
                            handle_replies(session, replies)
                    session.commit()
                os.ftruncate(descriptor, 0)
                replayed += len(entries)
            finally:
                os.close(descriptor)
        if replayed:
            log.warning("webhook.journal_replayed", extra={"count": replayed})
        return replayed


def journal_for(app) -> Journal:
    journal = getattr(app.state, "webhook_journal", None)
    if journal is None:
        journal = app.state.webhook_journal = Journal(Path(app.state.settings.data_dir) / "journal")
    return journal
