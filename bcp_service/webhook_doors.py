"""What this process's Twilio webhooks could not keep (issue 28.3): the journal unwritable, webhooks refused.

A webhook whose write the database cannot take is journaled; when the journal (and its second location,
``webhook_journal_fallback_dir``) cannot take it either, it is answered 503 and Twilio tries it again as
the URL's connection overrides ask (``#rc=..&rp=..``, channels/callbacks.py). This module holds the
process's view of that, for the heartbeat, the status, ``/metrics``, ``/ops`` and the banners.

Counts are this process's (a restart forgets them); the heartbeat carries them to the other processes.
Infrastructure: imports nothing of the project.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

_lock = threading.Lock()
_unwritable_since: float | None = None  # the primary journal location failed its last append
_refused = 0  # webhooks answered 503: neither the database nor any journal location took them
_fell_back = 0  # lines the second location took because the first refused them
_last_refused_at: float | None = None


def journal_failed() -> None:
    global _unwritable_since
    with _lock:
        if _unwritable_since is None:
            _unwritable_since = time.time()


def journal_wrote() -> None:
    global _unwritable_since
    _unwritable_since = None


def fell_back() -> None:
    global _fell_back
    with _lock:
        _fell_back += 1


def refused() -> None:
    global _refused, _last_refused_at
    with _lock:
        _refused += 1
        _last_refused_at = time.time()


def _at(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def journal_unwritable_since() -> datetime | None:
    return _at(_unwritable_since)


def refused_count() -> int:
    return _refused


def fallback_count() -> int:
    return _fell_back


def last_refused_at() -> datetime | None:
    return _at(_last_refused_at)


def reset() -> None:
    """Tests: forget this process's refusals."""
    global _unwritable_since, _refused, _fell_back, _last_refused_at
    with _lock:
        _unwritable_since, _refused, _fell_back, _last_refused_at = None, 0, 0, None
