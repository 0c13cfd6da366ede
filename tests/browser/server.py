"""The real service on a free loopback port, in its own process, against the test database.

The server opens its own sessions, so tests that use it commit their data and wipe it afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from tests.dbutil import wipe_database
from tests.e2e.conftest import START_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


class LiveServer:
    """``uvicorn bcp_service.asgi:app`` in its own process, as in production: nothing it does shares the
    test process's interpreter (threads other tests left behind cannot slow it down)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings.model_copy(update={"public_base_url": self.url})
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        return self.spawn().wait_ready()

    def spawn(self) -> LiveServer:
        """Start the process without waiting for it (several servers start side by side)."""
        env = {
            **os.environ,
            "BCP_DATABASE_URL": self.settings.database_url,
            "BCP_PUBLIC_BASE_URL": self.url,
            "BCP_ENVIRONMENT": self.settings.environment,
            "BCP_LOG_LEVEL": "WARNING",
            "BCP_SECRET_KEY": self.settings.secret_key.get_secret_value(),
            "BCP_DATA_DIR": str(self.settings.data_dir),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bcp_service.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "1",
            ],
            env=env,
            cwd=ROOT,
        )
        return self

    def wait_ready(self) -> LiveServer:
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("the test server exited at start")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the test server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def committed(engine) -> Iterator[Session]:
    """A session whose work is committed (the server must see it); every table is emptied afterwards."""
    wipe_database(engine)
    # write_late (db.py): on SQLite its reads take no lock, so a test looking at the data between steps
    # never holds up the server's writes in the other process.
    session = make_session_factory(engine, mode="write_late")()
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
