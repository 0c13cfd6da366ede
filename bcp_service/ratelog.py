"""Quiet fault logs: one line per cause per interval, with the count (issue 28.4).

One minute of a full disk used to write 10,256 traceback lines to the API log: every request that
met the fault logged its own. Through ``RepeatLog`` the first occurrence of a cause (an event name and
the error's class, say) is logged at once (with its traceback when asked, so a bug is still seen);
the rest within ``interval`` seconds are only counted, and the next occurrence after the interval
logs one line carrying ``repeated`` (how many were held back) before counting again. Nothing is lost:
the counts add up, and ``flush`` writes what is still held (a process that stops).

Thread-safe: the API's group commit writers call it from their threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_default_interval = 60.0


def set_interval(seconds: float) -> None:
    """The interval for every ``RepeatLog`` made without one (``log_repeat_interval_seconds``)."""
    global _default_interval
    _default_interval = max(0.0, float(seconds))


class RepeatLog:
    def __init__(
        self, logger: logging.Logger, *, interval: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self._interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # cause -> (window start, held back)

    @property
    def interval(self) -> float:
        return _default_interval if self._interval is None else self._interval

    def log(
        self,
        level: int,
        event: str,
        *,
        cause: str = "",
        extra: dict | None = None,
        exc_info: BaseException | bool | None = None,
    ) -> bool:
        """Log ``event`` unless the same ``cause`` was logged less than ``interval`` ago; True when logged."""
        key = (event, cause)
        now = self.clock()
        with self._lock:
            started, held = self._windows.get(key, (None, 0))
            if started is not None and now - started < self.interval:
                self._windows[key] = (started, held + 1)
                return False
            self._windows[key] = (now, 0)
        fields = dict(extra or {})
        if cause:
            fields.setdefault("cause", cause)
        if held:
            fields["repeated"] = held  # held back since the last line of this cause
        self.logger.log(level, event, extra=fields, exc_info=exc_info)
        return True

    def warning(self, event: str, **kwargs) -> bool:
        return self.log(logging.WARNING, event, **kwargs)

    def error(self, event: str, **kwargs) -> bool:
        return self.log(logging.ERROR, event, **kwargs)

    def flush(self) -> int:
        """One line for each cause with occurrences still held back; returns how many were."""
        with self._lock:
            held = {key: n for key, (_, n) in self._windows.items() if n}
            self._windows.clear()
        for (event, cause), count in held.items():
            self.logger.warning(event, extra={"cause": cause, "repeated": count})
        return sum(held.values())
