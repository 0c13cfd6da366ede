"""A loopback HTTP server standing in for www.data.jma.go.jp: feeds built from bulletin files.

Feeds answer conditional GETs (ETag / If-None-Match) with 304 as the Agency's server does; every
request is counted so the tests can say each bulletin was fetched once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

PORTS = range(18600, 18700)  # this helper's range on the shared machine


class JmaStandIn:
    def __init__(self) -> None:
        self.feeds: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.failures: Counter[str] = Counter()  # path -> answers of 500 still to give
        self.requests: Counter[str] = Counter()
        self.not_modified = 0
        self.server = self._bind()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _bind(self) -> ThreadingHTTPServer:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                stand_in.requests[self.path] += 1
                if stand_in.failures[self.path] > 0:
                    stand_in.failures[self.path] -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.path in stand_in.feeds:
                    body = stand_in.feeds[self.path]
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        stand_in.not_modified += 1
                        self.send_response(304)
                        self.end_headers()
                        return
                    self._send(body, "application/atom+xml", etag)
                elif self.path in stand_in.files:
                    self._send(stand_in.files[self.path], "application/xml", None)
                else:
                    self.send_response(404)
                    self.end_headers()

            def _send(self, body: bytes, kind: str, etag: str | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", format_datetime(datetime.now(UTC), usegmt=True))
                self.end_headers()
                self.wfile.write(body)

        last_error: OSError | None = None
        for port in PORTS:
            try:
                return ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError as exc:
                last_error = exc
        raise RuntimeError(f"no free port in {PORTS}: {last_error}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> JmaStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_bulletin(self, path: Path) -> str:
        url_path = f"/developer/xml/data/{path.name}"
        self.files[url_path] = path.read_bytes()
        return self.base + url_path

    def set_feed(self, name: str, entries: list[tuple[str, str, datetime]]) -> str:
        """entries: (title, bulletin URL, updated); listed newest first, as the Agency does."""
        items = []
        for title, link, updated in sorted(entries, key=lambda e: e[2], reverse=True):
            stamp = updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            items.append(
                f"<entry><title>{escape(title)}</title><id>{escape(link)}</id><updated>{stamp}</updated>"
                f'<author><name>気象庁</name></author><link type="application/xml" href="{escape(link)}"/>'
                f'<content type="text">{escape(title)}</content></entry>'
            )
        feed = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" lang="ja">'
            f"<title>高頻度（地震火山）</title><id>{self.base}/developer/xml/feed/{name}</id>"
            f"<updated>{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}</updated>{''.join(items)}</feed>"
        )
        self.feeds[f"/developer/xml/feed/{name}"] = feed.encode()
        return f"{self.base}/developer/xml/feed/{name}"
