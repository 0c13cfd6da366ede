"""The demo's processes and terminal: ports, child processes that die with the demo, a log file, progress.

Stopping the demo (Ctrl-C, ``kill`` of its pid, a closed terminal) stops everything it started:
SIGTERM and SIGHUP end the server like Ctrl-C, the ``finally`` of ``demo`` stops the children, and
each child also asks the kernel for SIGTERM should the demo die without cleaning up (even ``kill -9``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

from rich.console import Console
from sqlmodel import col, select

from bcp_service.db import make_engine, make_session_factory
from bcp_service.logs import KeyValueFormatter, quiet_noisy_loggers

PR_SET_PDEATHSIG = 1


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def log_to_file(path: Path, level: str = "INFO") -> None:
    """The demo's own logs go to a file; the terminal shows only what a person needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_noisy_loggers()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):  # not Linux: the demo's own stop still ends the children
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    """A child of the demo: its output goes to the demo's log file, and it ends when the demo does."""
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )


class _Stop(SystemExit):
    pass


def handle_stop_signals() -> None:
    """SIGTERM ends the demo like Ctrl-C, and so does SIGHUP (the terminal was closed).

    uvicorn handles SIGTERM itself while it serves, then raises it again after its graceful stop:
    that second time lands here, and the exception runs the ``finally`` that stops the children.
    """

    def stop(_signum, _frame) -> None:
        raise _Stop(0)

    def hang_up(_signum, _frame) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful stop while it serves; else `stop`

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, hang_up)


def progress_line(summary) -> str:
    by_state = summary.by_state
    messages = summary.messages
    sent = sum(n for state, n in messages.items() if state in ("sent", "delivered", "undelivered"))
    help_ = sum(by_state.get(s, 0) for s in ("needs_help", "power_out", "needs_transport"))
    rate = f"{100 * summary.answered / summary.total:.1f}%" if summary.total else "-"
    return (
        f"{summary.label}round {summary.round_id}: 送信 {sent:,}/{sum(messages.values()):,}  "
        f"配達 {messages.get('delivered', 0):,}  回答 {summary.answered:,}/{summary.total:,} ({rate})  "
        f"要支援 {help_:,}  未回答 {by_state.get('no_answer', 0):,}"
    )


class RoundProgress:
    """One line per running round on the terminal, updated in place (every ``interval`` seconds on a pipe)."""

    def __init__(
        self, database_url: str, console: Console, *, interval: float = 2.0, pipe_interval: float = 30.0
    ) -> None:
        self.factory = make_session_factory(make_engine(database_url), read_only=True)
        self.console = console
        self.interval = interval if console.is_terminal else pipe_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-progress", daemon=True)
        self._last: list[str] = []

    def lines(self) -> list[str]:
        from bcp_service.models import SafetyRound
        from bcp_service.models.rounds import RoundState
        from bcp_service.rounds.summary import summarise_round

        with self.factory() as session:
            rounds = session.exec(
                select(SafetyRound).where(SafetyRound.state == RoundState.running).order_by(col(SafetyRound.id))
            ).all()
            return [progress_line(summarise_round(session=session, safety_round=r)) for r in rounds]

    def start(self) -> RoundProgress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        live = None
        if self.console.is_terminal:
            from rich.live import Live
            from rich.text import Text

            live = Live(Text(""), console=self.console, auto_refresh=False, transient=False)
            live.start()
        try:
            while not self._stop.wait(self.interval):
                try:
                    lines = self.lines()
                except Exception:  # the database is busy or going away: try again next time
                    logging.getLogger("bcp_service.demo").warning("demo.progress_failed", exc_info=True)
                    continue
                if live is not None:
                    from rich.text import Text

                    live.update(Text("\n".join(lines)), refresh=True)
                elif lines != self._last:
                    for line in lines:
                        self.console.print(line, highlight=False, soft_wrap=True)
                self._last = lines
        finally:
            if live is not None:
                live.stop()
