"""Running the simulator: in the foreground for the CLI, or in a thread for tests and scripts."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bcp_service.twilio_sim.app import create_sim_app
from bcp_service.twilio_sim.config import PLACEHOLDER_AUTH_TOKEN, SimConfig
from bcp_service.twilio_sim.state import SimState

log = logging.getLogger("twilio_sim")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, config: SimConfig) -> None:
    """A simulator reachable from elsewhere needs its own token: the placeholder is public."""
    if config.auth_token == PLACEHOLDER_AUTH_TOKEN and not is_loopback(host):
        raise SystemExit(
            f"twilio-sim: {host} はループバックではありません。BCP_TWILIO_AUTH_TOKEN に推測できないトークンを設定してください "
            "(refusing a non-loopback address with the placeholder auth token)"
        )


def run_sim(host: str, port: int, config: SimConfig) -> None:
    """Serve the simulator until interrupted."""
    check_bind(host, config)
    if config.public_base_url is None:
        config = config.model_copy(update={"public_base_url": f"http://{host}:{port}"})
    app = create_sim_app(config)
    log.info("twilio_sim.started", extra={"base_url": config.public_base_url})
    # Access logs are off because query strings (/_sim/messages?to=...) carry phone numbers.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


class ThreadedServer:
    """Any ASGI app served by uvicorn on a background thread, bound before start.

    Binding the socket ourselves (port 0 = any free port) avoids the race of
    picking a free port and then asking uvicorn to bind it.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        if self._thread.ident is not None:
            return self
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.base_url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RunningSim(ThreadedServer):
    """The simulator on a background thread, with blocking helpers for its control endpoints."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        # A copy, so filling in public_base_url does not change the caller's object.
        super().__init__(create_sim_app((config or SimConfig()).model_copy(deep=True)), host, port)
        self.state: SimState = self.app.state.sim
        if self.state.config.public_base_url is None:
            self.state.config.public_base_url = self.base_url

    @property
    def account_sid(self) -> str:
        return self.state.config.account_sid

    @property
    def auth_token(self) -> str:
        return self.state.config.auth_token

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.base_url}{path}", timeout=30.0, **kwargs)
        response.raise_for_status()
        return response.json()

    def flush_callbacks(self, timeout: float = 10.0) -> int:
        """Block until pending callbacks are done; return how many are still pending."""
        return self._control("POST", "/_sim/flush", params={"timeout": timeout})["pending"]

    def reset(self) -> None:
        self._control("POST", "/_sim/reset")

    def configure(self, **changes: Any) -> dict[str, Any]:
        changes = {
            key: sorted(value) if isinstance(value, set | frozenset) else value for key, value in changes.items()
        }
        return self._control("POST", "/_sim/config", json=changes)

    def messages(self, to: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if to is not None:
            params["to"] = to
        return self._control("GET", "/_sim/messages", params=params)["messages"]

    def calls(self, to: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if to is not None:
            params["to"] = to
        return self._control("GET", "/_sim/calls", params=params)["calls"]

    def stats(self) -> dict[str, int]:
        return self._control("GET", "/_sim/stats")

    def inbound(self, *, from_: str, to: str, body: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base_url}/_sim/inbound",
            json={"from": from_, "to": to, "body": body},
            timeout=30.0,
        )
        return response.json()

    def inbound_call(self, *, from_: str, to: str, digits: str = "") -> dict[str, Any]:
        """A person calls the 050 number (``voice_webhook_url``) and presses ``digits`` ("3,#": per Gather)."""
        return self._control("POST", "/_sim/inbound_call", json={"from": from_, "to": to, "digits": digits})


def start_sim_in_thread(config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningSim:
    """Start the simulator on a background thread; call .stop() (or use `with`) when done."""
    return RunningSim(config, host, port).start()
