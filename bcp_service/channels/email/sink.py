"""A mail sink for the demo and the tests: an SMTP server on loopback (``aiosmtpd``) that keeps what it
receives, and a page of it (``/_mail``), like the Twilio simulator's phones page.

Bounces: a recipient at a ``.invalid`` domain (RFC 2606: never real) is refused at ``RCPT`` with
``550 5.1.1``, as a receiving server refuses an unknown mailbox; the sender reads that as the address
refusing e-mail for good (``outbound.py``) and marks it. Simulated data only: never point a real
server's mail here. Run by the demo (``demo.py``): ``python -m bcp_service.channels.email.sink``.
"""

from __future__ import annotations

import argparse
import html
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

JST = ZoneInfo("Asia/Tokyo")
BOUNCING_SUFFIX = ".invalid"
LINK = re.compile(r"https?://[^\s<>\"]+")
STYLE = """body{font-family:system-ui,sans-serif;margin:1rem;max-width:44rem}a{color:#0b57d0}
.msg{border:1px solid #ccc;border-radius:10px;padding:.6rem .8rem;margin:.5rem 0}
.body{white-space:pre-wrap;overflow-wrap:anywhere}.meta{color:#555;font-size:.85rem;overflow-wrap:anywhere}
.bounce{background:#fdecea}
.tap{display:inline-block;margin-top:.4rem;padding:.5rem 1rem;border-radius:8px;background:#0b57d0;color:#fff;text-decoration:none}"""


@dataclass
class Mail:
    to: str
    sender: str
    subject: str
    body: str
    message_id: str
    received_at: str
    bounced: bool = False  # refused at RCPT (the recipient's domain is .invalid)


class MailSink:
    """What the server received, newest last; thread-safe (the SMTP server runs in its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mail: list[Mail] = []
        self.controller: Controller | None = None

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        if address.rpartition("@")[2].lower().endswith(BOUNCING_SUFFIX):
            self._keep(
                Mail(
                    to=address,
                    sender=envelope.mail_from or "",
                    subject="",
                    body="",
                    message_id="",
                    received_at=_now(),
                    bounced=True,
                )
            )
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        part = parsed.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        for rcpt in envelope.rcpt_tos:
            self._keep(
                Mail(
                    to=rcpt,
                    sender=envelope.mail_from or "",
                    subject=str(parsed.get("Subject", "")),
                    body=body,
                    message_id=str(parsed.get("Message-ID", "")),
                    received_at=_now(),
                )
            )
        return "250 Message accepted"

    def _keep(self, mail: Mail) -> None:
        with self._lock:
            self.mail.append(mail)

    def received(self, to: str | None = None) -> list[Mail]:
        with self._lock:
            return [m for m in self.mail if to is None or m.to == to]

    def start(self, port: int, host: str = "127.0.0.1") -> MailSink:
        self.controller = Controller(self, hostname=host, port=port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def page_app(sink: MailSink) -> FastAPI:
    """``/_mail``: every mail received, newest first, each answer link a button; ``/_mail/messages``: as JSON."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/_mail/messages")
    def messages(to: str | None = None) -> list[dict]:
        return [asdict(m) for m in sink.received(to)]

    @app.get("/_mail", response_class=HTMLResponse)
    def mail_page() -> HTMLResponse:
        items = "".join(_mail_html(m) for m in reversed(sink.received())) or "<p>まだメールはありません。</p>"
        return HTMLResponse(
            '<!doctype html><html lang="ja"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>デモのメール受信箱</title>'
            f"<style>{STYLE}</style></head><body><h1>デモのメール受信箱</h1>"
            '<p class="meta">デモの SMTP サーバーが受け取ったメール（模擬データ）。リンクを押すと家族として回答できます。'
            "「.invalid」のアドレスは不達（バウンス）になります。</p>"
            f"{items}</body></html>"
        )

    return app


def _mail_html(mail: Mail) -> str:
    when = datetime.fromisoformat(mail.received_at).astimezone(JST).strftime("%m/%d %H:%M:%S")
    if mail.bounced:
        return (
            f'<div class="msg bounce"><div class="meta">{when} ・ 宛先 {html.escape(mail.to)}</div>'
            "<strong>不達（550 宛先なし）</strong></div>"
        )
    links = "".join(f'<a class="tap" href="{html.escape(link)}">回答する</a> ' for link in LINK.findall(mail.body))
    return (
        f'<div class="msg"><div class="meta">{when} ・ 宛先 {html.escape(mail.to)}</div>'
        f'<strong>{html.escape(mail.subject)}</strong><div class="body">{html.escape(mail.body)}</div>{links}</div>'
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="the demo's mail sink: SMTP on loopback and a page of what it got")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--page-port", type=int, required=True)
    args = parser.parse_args(argv)
    sink = MailSink().start(args.smtp_port)
    try:
        uvicorn.run(page_app(sink), host="127.0.0.1", port=args.page_port, log_config=None, access_log=False)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
