"""Cross-process wake-ups: PostgreSQL LISTEN on the channel the triggers of alembic 0006 notify.

Each API process holds one listening connection (psycopg, async, autocommit) whatever the number of
rounds and viewers. The payload is a round id, and for a new answer also the answer's id: delivered
when its transaction commits, so the feed lists exactly the answers that became visible, in
whatever order concurrent transactions commit. Counts and lists are read by the watchers
themselves. After a reconnect every watcher is woken and looks through its window of recent ids,
because notifications sent while nobody listened are gone.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from sqlalchemy import Engine

log = logging.getLogger("bcp_service.live")
CHANNEL = "bcp_board"
MAX_BACKOFF = 30.0


def conninfo(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    def __init__(self, hub, dsn: str) -> None:
        self.hub = hub
        self.dsn = dsn

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    log.info("live.listening", extra={"channel": CHANNEL})
                    backoff = 0.5
                    self.hub.wake_all()
                    async for notification in connection.notifies():
                        self._dispatch(notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection: listen again, watchers poll meanwhile
                log.warning("live.listen_failed", extra={"error": type(exc).__name__, "retry_in": backoff})
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def _dispatch(self, payload: str) -> None:
        # "<round id>" (a state changed) or "<round id> <answer id>" (an answer became visible).
        parts = payload.split()
        try:
            round_id = int(parts[0])
            answer_id = int(parts[1]) if len(parts) > 1 else None
        except (IndexError, ValueError):
            return
        self.hub.notify(round_id, answer_id)


def listener_factory(engine: Engine):
    """None on SQLite (one process, watchers poll); on PostgreSQL, a factory of listeners for the hub."""
    if engine.dialect.name != "postgresql":
        return None
    dsn = conninfo(engine)
    return lambda hub: PgListener(hub, dsn)
