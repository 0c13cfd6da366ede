"""Child processes of a load run: each in its own process group, all stopped on the way out.

Every process the runner starts goes through ``ProcessSet.start``. ``stop_all`` sends SIGTERM to
each group (newest first), waits, then SIGKILLs what is left; it runs on normal exit, on an
exception, on Ctrl-C and on SIGTERM (``ProcessSet`` is a context manager and also registers itself
with ``atexit``), so a run never leaves a server behind. Only the groups started here are
signalled, by their own ids.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


class ProcessFailed(RuntimeError):
    pass


@dataclass
class Proc:
    name: str
    command: list[str]
    popen: subprocess.Popen
    log_path: Path | None
    oneshot: bool = False  # expected to exit (migrations, Locust, py-spy): not watched by check_alive
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _raise_interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class ProcessSet:
    def __init__(self, log_dir: Path | None = None, *, cwd: Path | None = None) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.procs: list[Proc] = []
        self._previous_sigterm = None
        self._registered = False

    def __enter__(self) -> ProcessSet:
        # SIGTERM becomes KeyboardInterrupt so the same `finally` path stops everything.
        self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        atexit.register(self.stop_all)
        self._registered = True
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self._registered:
            atexit.unregister(self.stop_all)
            self._registered = False

    def start(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None, oneshot: bool = False
    ) -> Proc:
        log_path = None
        stdout = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            stdout = log_path.open("ab")
        popen = subprocess.Popen(
            list(command),
            cwd=self.cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if stdout is not subprocess.DEVNULL:
            stdout.close()  # the child holds its own copy
        proc = Proc(name, list(command), popen, log_path, oneshot)
        self.procs.append(proc)
        return proc

    def check_alive(self, names: Sequence[str] | None = None) -> None:
        for proc in self.procs:
            if proc.oneshot or (names is not None and proc.name not in names):
                continue
            if not proc.alive():
                raise ProcessFailed(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")

    def stop(self, proc: Proc, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, wait up to ``timeout``, then SIGKILL it."""
        if proc.alive():
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(5)
        # Children that outlived their parent (uvicorn workers, locust workers) share the group.
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.popen.returncode

    def stop_all(self, timeout: float = 10.0) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):  # keep stopping the others whatever one of them does
                self.stop(proc, timeout)

    def run(self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float) -> int:
        """Start, wait at most ``timeout`` seconds, stop; returns the exit code (None-safe: -9 when killed)."""
        proc = self.start(name, command, env=env, oneshot=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout)
        # Also ends children left behind by a parent that exited (Locust's forked workers).
        self.stop(proc, 10)
        return proc.popen.returncode if proc.popen.returncode is not None else -9


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    alive: Callable[[], None] | None = None,
    what: str = "condition",
) -> float:
    """Poll ``check`` until true; returns seconds waited. ``alive`` raises when a process died."""
    started = time.monotonic()
    while True:
        if alive is not None:
            alive()
        try:
            if check():
                return time.monotonic() - started
        except Exception:
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 2.0) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(url, timeout=timeout).status_code == 200

    return check
