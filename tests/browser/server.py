"""The real service on a free loopback port, in a thread, against the test database.

The server opens its own sessions, so tests that use it commit their data and wipe it afterwards.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from bcp_service.app import create_app
from bcp_service.config import Settings
from tests.dbutil import wipe_database


class LiveServer:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings.model_copy(update={"public_base_url": self.url})
        self.app = create_app(self.settings, engine)
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        hub = getattr(self.app.state, "live", None)
        if hub is not None and hub.loop is not None and not hub.loop.is_closed():
            # End the event streams first: uvicorn waits for open responses before it stops.
            try:
                asyncio.run_coroutine_threadsafe(_close(hub), hub.loop).result(5)
            except Exception:
                pass
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


async def _close(hub) -> None:
    hub.close()


@pytest.fixture
def committed(engine) -> Iterator[Session]:
    """A session whose work is committed (the server must see it); every table is emptied afterwards."""
    wipe_database(engine)
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        wipe_database(engine)


@pytest.fixture
def live_server(settings, engine, committed) -> Iterator[LiveServer]:
    server = LiveServer(settings, engine).start()
    yield server
    server.stop()
