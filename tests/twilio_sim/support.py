"""Shared test doubles: a webhook receiver that plays the app's side of Twilio."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response

from bcp_service.twilio_sim import RunningSim, SimConfig

GATHER_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Response><Gather action="answer" numDigits="1" method="POST">'
    '<Say language="ja-JP">無事なら1を押してください</Say></Gather></Response>'
)
THANKS_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>ありがとう</Say></Response>'


@dataclass(frozen=True)
class Hit:
    path: str
    url: str
    signature: str | None
    params: dict[str, str]


class Receiver:
    """Records every request; /voice answers with a Gather whose action is relative."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self._handle, methods=["GET", "POST"])

    async def _handle(self, path: str, request: Request) -> Response:
        raw = (await request.body()).decode()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        hit = Hit(path, str(request.url), request.headers.get("x-twilio-signature"), params)
        with self._lock:
            self.hits.append(hit)
        if path == "voice/call":
            return Response(GATHER_TWIML, media_type="application/xml")
        if path == "voice/answer":
            return Response(THANKS_TWIML, media_type="application/xml")
        if path == "broken":
            return Response(status_code=500)
        return Response("<Response/>", media_type="application/xml")

    def on(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()

    def wait_for(self, path: str, count: int, timeout: float = 5.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.on(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.on(path)


def restore_defaults(sim: RunningSim) -> None:
    defaults = SimConfig().model_dump(exclude={"public_base_url"})
    sim.configure(**defaults)
    sim.reset()
