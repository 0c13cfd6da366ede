"""What the load users put on the wire and read back, kept free of Locust so it can be unit-tested:
Twilio webhook parameters and signatures, answer links in message bodies, the board's SSE frames.
"""

from __future__ import annotations

import json
import re
import uuid
import zlib
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
ANSWER_LINK = re.compile(r"https?://[^\s/]+(?::\d+)?/a/([A-Za-z0-9_-]+)")
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
FEED_CHECK = re.compile(r'"check":(\d+)')
# What people answer by SMS (digits as the message asks; some keywords), weighted like a first hour.
REPLIES = (("1", 70), ("無事です", 10), ("3 残り2時間", 8), ("2", 6), ("4", 6))
LINK_STATES = (("safe", 80), ("power_out", 10), ("needs_help", 5), ("needs_transport", 5))


def bucket(key: str, buckets: int, salt: str = "") -> int:
    """A stable bucket for a provider id: partitions messages between processes and channels."""
    return zlib.crc32((salt + key).encode()) % max(1, buckets)


def share(key: str, salt: str) -> float:
    """A stable number in [0, 1) for a provider id."""
    return (zlib.crc32((salt + key).encode()) % 10_000) / 10_000


def token_from_body(body: str | None) -> str | None:
    match = ANSWER_LINK.search(body or "")
    return match.group(1) if match else None


def nonce_from_form(html: str) -> str | None:
    match = NONCE.search(html)
    return match.group(1) if match else None


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


class Signer:
    """Signs webhook parameters the way Twilio does: HMAC-SHA1 of the exact URL plus sorted params."""

    def __init__(self, auth_token: str, webhook_base: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.base = webhook_base.rstrip("/")

    def url(self, path: str) -> str:
        return self.base + path

    def sign(self, path: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(self.url(path), params)


def status_params(
    *, account_sid: str, sid: str, status: str, to: str, from_: str, error_code: str | None = None
) -> dict[str, str]:
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "From": from_,
    }
    if error_code and status in ("undelivered", "failed"):
        params["ErrorCode"] = error_code
    return params


def reply_params(*, account_sid: str, sid: str, from_: str, to: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
    }


def receipt_plan(sid: str, *, undelivered_share: float, out_of_order_share: float) -> list[tuple[str, str | None]]:
    """The statuses one message's receipts carry, in the order they will be posted.

    Most end ``delivered``; a share ``undelivered`` (30003); a share arrive reversed, so the late
    ``sent`` must not overwrite the final state.
    """
    final, code = ("undelivered", "30003") if share(sid, "u") < undelivered_share else ("delivered", None)
    plan: list[tuple[str, str | None]] = [("sent", None), (final, code)]
    if share(sid, "o") < out_of_order_share:
        plan.reverse()
    return plan


@dataclass
class SseParser:
    """Incremental parser for ``text/event-stream``: feed bytes, get (event, data) pairs."""

    buffer: bytes = b""
    event: str | None = None
    data: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        self.buffer += chunk
        out: list[tuple[str, str]] = []
        while True:
            cut = self.buffer.find(b"\n")
            if cut < 0:
                return out
            line = self.buffer[:cut].rstrip(b"\r").decode("utf-8", "replace")
            self.buffer = self.buffer[cut + 1 :]
            if line == "":
                if self.event is not None or self.data:
                    out.append((self.event or "message", "\n".join(self.data)))
                self.event, self.data = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                self.event = line[6:].strip()
            elif line.startswith("data:"):
                self.data.append(line[5:].lstrip())


def feed_checks(data: str) -> list[int]:
    """Check ids in an event's feed, without decoding the (large) rest of the message."""
    start = data.find('"feed":[')
    if start < 0:
        return []
    return [int(m) for m in FEED_CHECK.findall(data, start)]


def feed_checks_slow(data: str) -> list[int]:
    """The same by decoding everything (used by the tests to check the fast path)."""
    return [item["check"] for item in json.loads(data).get("feed", [])]
