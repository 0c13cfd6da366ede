"""``bcp-service scheduler``: fires schedules, starts triggered rounds, escalates unanswered checks."""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console

from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.logs import configure_logging
from bcp_service.schedules.process import SchedulerProcess

console = Console()


def scheduler(
    once: bool = typer.Option(False, "--once", help="run every job once and exit (e.g. from cron)"),
) -> None:
    """Run the scheduler until stopped (Ctrl-C / SIGTERM). Several may run at once: each fire time,
    trigger start and escalation step happens once (docs/escalation.md)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url, pool_size=5)
    process = SchedulerProcess(session_factory=make_session_factory(engine), settings=settings)
    if once:
        process.run_once()
        process.beat(stopped=True)
        console.print(f"ran {', '.join(process.jobs)} once")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    process.start()
    try:
        stop.wait()
    finally:
        process.stop()
        engine.dispose()
