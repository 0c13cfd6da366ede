"""``bcp-service feeds``: poll the Agency's Atom feeds and decide on each new bulletin (docs/feeds.md)."""

from __future__ import annotations

import logging
import signal
import threading
import time

import typer
from rich.console import Console

from bcp_service import heartbeat
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.db_outage import DatabaseWait, is_outage
from bcp_service.feeds.poller import FeedPoller
from bcp_service.logs import configure_logging

console = Console()
log = logging.getLogger("bcp_service.feeds")


def feeds(
    once: bool = typer.Option(False, "--once", help="poll every feed once, decide on what is new, and exit"),
) -> None:
    """Poll BCP_FEEDS_URLS every BCP_FEEDS_POLL_SECONDS with conditional GET; fetch each new bulletin once
    and decide on it as POST /api/v1/triggers would. Safe to restart; several may run at once."""
    settings = get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url, pool_size=2)
    factory = make_session_factory(engine)
    poller = FeedPoller(session_factory=factory, settings=settings)
    instance_id = heartbeat.new_instance_id("feeds")
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    runs = 0
    next_poll = 0.0
    database = DatabaseWait("feeds")  # an outage: poll again at the next turn, the beats say it waits
    try:
        while True:
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + settings.feeds_poll_seconds
                try:
                    result = poller.run_once()
                    runs += 1
                    if once:
                        console.print(
                            f"feeds: {result.feeds_polled} polled ({result.not_modified} not modified, "
                            f"{result.feed_errors} failed), {result.entries_new} new entries, "
                            f"{result.bulletins_decided} bulletins decided, {result.bulletins_failed} failed"
                        )
                    database.succeeded()
                except Exception as exc:
                    if not is_outage(exc):
                        log.exception("feeds.poll_error")
                    else:
                        # Sooner than the next poll: the database is back within seconds after a failover.
                        next_poll = time.monotonic() + min(
                            settings.feeds_poll_seconds, database.note(exc, worker_id=instance_id)
                        )
            try:  # beats between polls too, so a one-minute poll is never reported stale
                heartbeat.beat(factory, instance_id=instance_id, name="feeds", info={"runs": runs}, stopped=once)
            except Exception:
                log.warning("feeds.heartbeat_failed", exc_info=True)
            wait = min(settings.heartbeat_seconds, max(0.0, next_poll - time.monotonic()))
            if once or stop.wait(wait):
                break
    finally:
        if not once:
            try:
                heartbeat.beat(factory, instance_id=instance_id, name="feeds", info={"runs": runs}, stopped=True)
            except Exception as exc:  # stopped during an outage: the row goes stale, which says the same
                if not is_outage(exc):
                    raise
        poller.client.close()
        engine.dispose()
