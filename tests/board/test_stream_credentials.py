"""A board stream ends within 5 s of its credential dying (issue 23.2): a revoked token, an expired token,
a session whose account's password was reset. The stream says so (``expired``) and the reconnect is
refused. Against the real server: the stream runs in another process, as in production."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
from sqlmodel import select

from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.secrets import new_token, token_hash
from bcp_service.auth.service import start_web_session
from bcp_service.models import ApiToken, User
from bcp_service.models.base import utcnow
from tests.board.builders import build_round
from tests.factories import create_user


class Stream(threading.Thread):
    def __init__(self, url: str, **credentials) -> None:
        super().__init__(daemon=True)
        self.url, self.credentials = url, credentials
        self.opened = threading.Event()
        self.expired_at: float | None = None
        self.ended_at: float | None = None

    def run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=30), **self.credentials) as client,
            client.stream("GET", self.url) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: snapshot"):
                    self.opened.set()
                elif line.startswith("event: expired"):
                    self.expired_at = time.perf_counter()
        self.ended_at = time.perf_counter()


def _bearer(session, user) -> tuple[str, ApiToken]:
    token = new_token()
    row = ApiToken(
        user_id=user.id,
        kind="integration",
        token_hash=token_hash(token),
        prefix=token[:12],
        expires_at=utcnow() + timedelta(days=1),
        epoch=user.credential_epoch,
    )
    session.add(row)
    return token, row


def test_streams_end_within_five_seconds_of_their_credential_dying(live_server, committed, settings):
    scene = build_round(committed, live_server.settings, answer=False)
    url = f"{live_server.url}/board/rounds/{scene.round.id}/events"
    revoked_user, expired_user, reset_user = (create_user(committed, "admin") for _ in range(3))
    revoked, revoked_row = _bearer(committed, revoked_user)
    expired, expired_row = _bearer(committed, expired_user)
    cookie, _ = start_web_session(session=committed, user=reset_user, settings=settings)
    committed.commit()
    streams = {
        "revoked": Stream(url, headers={"Authorization": f"Bearer {revoked}"}),
        "expired": Stream(url, headers={"Authorization": f"Bearer {expired}"}),
        "reset": Stream(url, cookies={SESSION_COOKIE: cookie}),
    }
    for stream in streams.values():
        stream.start()
    for name, stream in streams.items():
        assert stream.opened.wait(10), f"{name}: no snapshot"

    revoked_row.revoked_at = utcnow()
    expired_row.expires_at = utcnow()
    user = committed.exec(select(User).where(User.id == reset_user.id)).one()
    user.password_hash = user.password_hash + "-reset"
    committed.add_all([revoked_row, expired_row, user])
    committed.commit()
    died = time.perf_counter()

    for name, stream in streams.items():
        stream.join(8)
        assert stream.ended_at is not None, f"{name}: the stream is still open"
        assert stream.expired_at is not None and stream.ended_at - died < 5.0, f"{name}: {stream.ended_at - died:.1f} s"
    # Pages answer a dead login with the way to the login page (the API with 401, tests/auth/test_credentials.py).
    for stream in streams.values():
        again = httpx.get(url, follow_redirects=False, **stream.credentials)
        assert again.status_code == 303 and again.headers["location"].startswith("/login"), again.status_code
