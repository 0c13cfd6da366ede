"""Where the machine's CPU went during a run: by component (API, workers, simulator, Locust,
PostgreSQL, ...) and the rest of the machine, sampled once a second from /proc (psutil)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import psutil

PidSource = Callable[[], list[int]]


def tree(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn and Locust fork their workers)."""
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return []


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds, total CPU seconds) of the whole machine since boot."""
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuSampler(threading.Thread):
    def __init__(self, components: dict[str, PidSource], *, interval: float = 1.0, max_seconds: float = 7200) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.components = components
        self.interval = interval
        self.max_seconds = max_seconds
        self.samples: list[tuple[float, dict[str, float], float, float]] = []  # (t, by component, busy, total)
        self._last: dict[int, tuple[str, float]] = {}  # pid -> (component, its cpu seconds)
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> None:
        for name, source in self.components.items():
            try:
                pids = source()
            except Exception:
                continue
            for pid in pids:
                try:
                    cpu = psutil.Process(pid).cpu_times()
                except psutil.Error:
                    continue
                self._last[pid] = (name, cpu.user + cpu.system)
        by_component = dict.fromkeys(self.components, 0.0)
        for name, seconds in self._last.values():
            by_component[name] += seconds  # a process that ended keeps what it used
        busy, total = machine_busy()
        with self.lock:
            self.samples.append((time.time(), by_component, busy, total))

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._halt.is_set() and time.monotonic() < deadline:
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(self.interval * 5)
        self.sample()

    def _at(self, t: float):
        with self.lock:
            before = [s for s in self.samples if s[0] <= t]
            return before[-1] if before else (self.samples[0] if self.samples else None)

    def split(self, start: float, end: float) -> dict:
        """CPU seconds and share of the machine (all cores) per component between two wall times."""
        first, last = self._at(start), self._at(end)
        if first is None or last is None or last[0] <= first[0]:
            return {}
        wall = last[0] - first[0]
        cores = psutil.cpu_count() or 1
        used = {name: max(0.0, last[1][name] - first[1].get(name, 0.0)) for name in last[1]}
        busy = last[2] - first[2]
        capacity = last[3] - first[3] or wall * cores
        used["other processes"] = max(0.0, busy - sum(used.values()))
        return {
            "wall_seconds": round(wall, 1),
            "cores": cores,
            "cpu_seconds": {k: round(v, 1) for k, v in used.items()},
            "share_of_machine": {k: round(v / capacity, 3) for k, v in used.items()},
            "idle_share": round(max(0.0, 1 - busy / capacity), 3),
        }

    def series(self) -> tuple[list[float], dict[str, list[float]]]:
        """Per-interval CPU use in cores, per component, for the plot."""
        with self.lock:
            samples = list(self.samples)
        times: list[float] = []
        out: dict[str, list[float]] = {name: [] for name in self.components}
        for previous, current in itertools.pairwise(samples):
            dt = current[0] - previous[0]
            if dt <= 0:
                continue
            times.append(current[0])
            for name in self.components:
                out[name].append(max(0.0, current[1][name] - previous[1][name]) / dt)
        return times, out


class PgWaitSampler(threading.Thread):
    """What the load database's connections are doing, twice a second: running, waiting for a lock
    (and which), idle in a transaction (the application holds it open), idle. Averaged per phase, it
    shows where requests queue inside PostgreSQL, which a Python profile shows only as 'waiting'."""

    # Lock waits name the statement that waits (its first words; psycopg sends values as parameters,
    # so the text holds no personal data): which rows the burst queues on.
    QUERY = (
        "SELECT CASE WHEN state = 'active' AND wait_event_type = 'Lock' "
        "THEN 'waiting: Lock:' || wait_event || ' (' || left(regexp_replace(query, '\\s+', ' ', 'g'), 36) || '…)' "
        "WHEN state = 'active' AND wait_event_type IS NOT NULL "
        "THEN 'waiting: ' || wait_event_type || ':' || wait_event ELSE coalesce(state, '?') END, count(*) "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' GROUP BY 1"
    )

    def __init__(self, dsn: str, *, interval: float = 0.5, max_seconds: float = 7200) -> None:
        super().__init__(daemon=True, name="pg-wait-sampler")
        self.dsn = dsn
        self.interval = interval
        self.max_seconds = max_seconds
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.max_seconds
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                while not self._halt.is_set() and time.monotonic() < deadline:
                    rows = conn.execute(self.QUERY).fetchall()
                    self.samples.append((time.time(), dict(rows)))
                    self._halt.wait(self.interval)
        except Exception:  # the sampler must never take the run down
            pass

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def split(self, start: float, end: float) -> dict[str, float]:
        """Average number of connections in each state between two wall times."""
        window = [s for t, s in self.samples if start <= t <= end]
        if not window:
            return {}
        keys = {k for s in window for k in s}
        averages = {k: round(sum(s.get(k, 0) for s in window) / len(window), 2) for k in keys}
        return dict(sorted(averages.items(), key=lambda kv: -kv[1]))
