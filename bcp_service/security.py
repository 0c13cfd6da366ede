"""Security middleware: response headers, request body limits, and errors that never reach the log raw.

One pure ASGI middleware (no per-request thread hop, so the disaster-flooded routes pay almost nothing):

- **Headers** on every response unless the route set its own: ``X-Frame-Options: DENY`` and a
  Content-Security-Policy with ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy``, and HSTS when the public URL is https.
- **Body limits** per route class, checked against ``Content-Length`` and again while the body is
  read, before anything parses it: a 100 MB body without a token is a 413 after at most the limit.
- **Unhandled errors** answer 500 with a plain message and are logged as ``http.unhandled_error``
  with the exception's type only: a database error's text can carry row values (PostgreSQL's
  ``DETAIL: Failing row contains (...)``), and the server would otherwise log it whole.
"""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request

from bcp_service.config import Settings
from bcp_service.triggers.jma import MAX_BULLETIN_BYTES

log = logging.getLogger("bcp_service.security")

KIB = 1024
MIB = 1024 * KIB
# Finished BCP uploads: /api/v1/institutions/{id}/bcp-plans and the page's /bcp/institutions/{id}/plans.
PLAN_UPLOADS = (("/api/v1/institutions/", "/bcp-plans"), ("/bcp/institutions/", "/plans"))
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc (served from the package, web/docs.py) start from an inline script and ReDoc
# runs a worker from a blob: URL; nothing else on these pages takes input.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
TOO_LARGE = "リクエストが大きすぎます (request body too large: at most {limit} bytes)"


def body_limit(path: str, settings: Settings) -> int:
    """The largest request body a route class accepts, in bytes."""
    if path.startswith("/api/v1/imports/"):
        return settings.import_max_bytes
    if any(path.startswith(head) and path.endswith(tail) for head, tail in PLAN_UPLOADS):
        # A finished BCP file: its own limit plus room for the form around it, so a file just over the
        # limit reaches the page and is refused there in words (bcp/plans.py), not by a bare 413.
        return settings.plan_max_bytes + MIB
    if path == "/api/v1/triggers":
        return MAX_BULLETIN_BYTES
    if path.startswith("/webhooks/"):
        return 64 * KIB  # Twilio's form posts are a few KiB
    if path.startswith(("/a/", "/call/", "/login", "/logout", "/api/v1/auth/")):
        return 16 * KIB  # answer links, login forms
    return settings.api_max_body_bytes


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parser lets it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE.format(limit=limit))


def _csp(path: str) -> str:
    if path.startswith(("/api/", "/webhooks/", "/openapi.json")):
        return API_CSP
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    return PAGE_CSP


def security_headers(settings: Settings, path: str) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", _csp(path).encode()),
    ]
    if settings.public_base_url.startswith("https://"):
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


def _json(status: int, message: str) -> tuple[dict, dict]:
    body = json.dumps({"detail": [{"loc": [], "msg": message, "type": "request"}]}, ensure_ascii=False).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


SERVER_ERROR = "サーバーで問題が起きました。時間をおいてもう一度お試しください (internal error)"


class SecurityMiddleware:
    """``server_error``: the response for an unhandled error (the app's Japanese page for people, JSON
    for programs); without it, JSON."""

    def __init__(self, app, settings: Settings, server_error=None, too_large=None) -> None:
        self.app = app
        self.settings = settings
        self.server_error = server_error
        # ``too_large(request, limit)``: the 413 response (a Japanese page for a person at a form, issue 27.5).
        self.too_large = too_large

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = body_limit(path, self.settings)
        extra = security_headers(self.settings, path)
        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                if b"content-security-policy" in present:
                    # The route chose its own policy (board, nurse, answer page): keep it, frame rule included.
                    own = [h for h in extra if h[0] not in (b"content-security-policy", b"x-frame-options")]
                else:
                    own = extra
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in own if h[0] not in present)],
                }
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse_large(scope, receive, send_with_headers, limit)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await self._refuse_large(scope, receive, send_with_headers, limit)
        except Exception as exc:
            log.error(
                "http.unhandled_error",
                extra={"error": type(exc).__name__, "route": getattr(scope.get("route"), "path", None)},
            )
            if not started:
                if self.server_error is not None:
                    await self.server_error(Request(scope), exc)(scope, receive, send_with_headers)
                else:
                    await self._answer(send_with_headers, 500, SERVER_ERROR)

    async def _refuse_large(self, scope, receive, send, limit: int) -> None:
        if self.too_large is not None:
            await self.too_large(Request(scope), limit)(scope, receive, send)
        else:
            await self._answer(send, 413, TOO_LARGE.format(limit=limit))

    @staticmethod
    async def _answer(send, status: int, message: str) -> None:
        start, body = _json(status, message)
        await send(start)
        await send(body)
