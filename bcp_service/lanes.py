"""Sending lanes paused for an account problem (issue 26.1): the one place that writes and reads them.

A worker pauses a lane when the provider refuses our account or sender (the notifier's fact
``account_problem``, or a burst of ``account_suspect``): its messages stay queued, no check is
failed. Every worker reads the rows (``paused``) and sends nothing on a paused lane; the lane
resumes when a worker's probe succeeds or an admin presses resume (``/system/lanes``, audited).
The board, every staff page (``templates/web/_lanes.html``, through ``banner``) and
``GET /api/v1/system/status`` show the cause in Japanese.

Infrastructure: imports only ``models`` and ``locking``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, select

from bcp_service.locking import take_write_lock
from bcp_service.models import SendLanePause
from bcp_service.models.base import utcnow

log = logging.getLogger("bcp_service.outbox")

LANE_LABELS = {"sms": "SMS", "voice": "電話"}
# The notifier's neutral reasons (notifiers/twilio_codes.py), in Japanese, with what to do.
REASON_LABELS = {
    "auth": "送信事業者の認証に失敗しています（認証トークンの変更・誤り）",
    "forbidden": "送信事業者がこのアカウントの操作を拒否しています",
    "account_inactive": "送信事業者のアカウントが停止または閉鎖されています",
    "geo_permission": "日本あての送信がアカウントで許可されていません（送信先の国の設定）",
    "sender_not_allowed": "送信元（送信者ID・電話番号）が使えません",
}
SNAPSHOT_SECONDS = 3.0


@dataclass(frozen=True)
class LanePause:
    lane: str
    reason: str
    code: str | None
    paused_at: datetime

    @property
    def lane_label(self) -> str:
        return LANE_LABELS.get(self.lane, self.lane)

    @property
    def cause(self) -> str:
        return REASON_LABELS.get(self.reason, "送信事業者がアカウントまたは送信元を拒否しています")


def list_pauses(*, session: Session) -> list[LanePause]:
    rows = session.exec(select(SendLanePause).order_by(SendLanePause.lane)).all()
    return [LanePause(row.lane, row.reason, row.code, row.paused_at) for row in rows]


def pause_lane(*, session: Session, lane: str, reason: str | None, code: str | None) -> bool:
    """Pause ``lane`` (True) unless it is paused already (the first cause is kept)."""
    take_write_lock(session)
    if session.get(SendLanePause, lane) is not None:
        return False
    session.add(SendLanePause(lane=lane, reason=(reason or "account")[:30], code=(code or None) and code[:20]))
    session.flush()
    log.warning("outbox.lane_paused", extra={"lane": lane, "reason": reason, "code": code})
    return True


def resume_lane(*, session: Session, lane: str, by: str) -> bool:
    """Resume ``lane`` (True) if it was paused; ``by`` is "probe" or "admin" for the log."""
    take_write_lock(session)
    found = session.exec(delete(SendLanePause).where(SendLanePause.lane == lane)).rowcount  # type: ignore[call-overload]
    if found:
        log.warning("outbox.lane_resumed", extra={"lane": lane, "by": by})
    return bool(found)


def mark_probed(*, session: Session, lane: str) -> None:
    row = session.get(SendLanePause, lane)
    if row is not None:
        row.probed_at = utcnow()
        session.add(row)
        session.flush()


class _Snapshot:
    """What the banner of every staff page shows, read at most every few seconds per process."""

    def __init__(self) -> None:
        self.factory: Callable[[], Session] | None = None
        self.pauses: list[LanePause] = []
        self.read_at = 0.0
        self.lock = threading.Lock()

    def current(self) -> list[LanePause]:
        if self.factory is None:
            return []
        with self.lock:
            if time.monotonic() - self.read_at < SNAPSHOT_SECONDS:
                return self.pauses
            self.read_at = time.monotonic()
        try:
            with self.factory() as session:
                self.pauses = list_pauses(session=session)
        except Exception:  # a page must not fail because the banner cannot be read (a database outage)
            log.warning("outbox.lanes_unreadable", exc_info=True)
        return self.pauses

    def forget(self) -> None:
        self.read_at = 0.0


_SNAPSHOT = _Snapshot()


def bind(read_session_factory: Callable[[], Session]) -> None:
    """Where the staff pages' banner reads (``create_app``: its read-only sessions, no SQLite write lock)."""
    _SNAPSHOT.factory = read_session_factory
    _SNAPSHOT.forget()


def banner() -> list[LanePause]:
    return _SNAPSHOT.current()


def forget_banner() -> None:
    """Read again on the next page (after a resume, the page that pressed it must not show the banner)."""
    _SNAPSHOT.forget()
