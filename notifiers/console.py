"""Development default: shows what would be sent and sends nothing to anyone."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from notifiers.base import SendResult


class ConsoleNotifier:
    name = "console"

    def __init__(self, *, stream: TextIO | None = None) -> None:
        # Resolved at call time so pytest's capsys and redirected stdout see the output.
        self._stream = stream

    def _print(self, line: str) -> None:
        print(line, file=self._stream or sys.stdout, flush=True)

    async def send_sms(
        self, *, to: str, body: str, status_callback: str | None = None, validity_period: int | None = None
    ) -> SendResult:
        provider_id = f"CONSOLE-{uuid.uuid4().hex}"
        self._print(f"[console sms] id={provider_id} to={to} body={body!r}")
        return SendResult(provider_id=provider_id, status="sent")

    async def place_call(
        self, *, to: str, twiml_url: str, status_callback: str | None = None, fallback_url: str | None = None
    ) -> SendResult:
        provider_id = f"CONSOLE-{uuid.uuid4().hex}"
        self._print(f"[console call] id={provider_id} to={to} twiml={twiml_url}")
        return SendResult(provider_id=provider_id, status="queued")

    async def aclose(self) -> None:
        return None
