"""Proxy headers only from proxies named in BCP_TRUSTED_PROXIES (issue 23): by default X-Forwarded-For is
ignored, so the lockout and the audit log see the connecting peer, never a forged address."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from bcp_service.app import create_app
from bcp_service.cli import demo
from bcp_service.db import get_session
from bcp_service.models import AuditEvent, LoginThrottle
from tests.factories import bearer


def audited_address(session) -> str | None:
    session.expire_all()
    return session.exec(select(AuditEvent.address).order_by(AuditEvent.id.desc())).first()


def test_forwarded_for_is_ignored_by_default(client, session, settings):
    assert settings.trusted_proxies == ""
    assert client.get("/api/v1/patients", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    assert audited_address(session) == "testclient"


def test_a_forged_address_does_not_dodge_the_lockout(anon_client, session, admin_user):
    for n in range(3):
        response = anon_client.post(
            "/api/v1/auth/token",
            data={"username": admin_user.username, "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        assert response.status_code in (401, 423, 429)
    session.expire_all()
    keys = [row.key for row in session.exec(select(LoginThrottle)).all()]
    assert not any("198.51.100" in k for k in keys)
    assert any("testclient" in k for k in keys)


def test_a_named_proxy_is_believed(settings, engine, session, admin_user):
    app = create_app(settings.model_copy(update={"trusted_proxies": "10.9.9.9, testclient"}), engine)

    def shared():
        session.commit()
        yield session
        session.commit()

    app.dependency_overrides[get_session] = shared
    with TestClient(app, headers=bearer(session, admin_user)) as proxied:
        # The right-most address that is not itself a trusted proxy is the client.
        forwarded = {"X-Forwarded-For": "203.0.113.9, 10.9.9.9"}
        assert proxied.get("/api/v1/patients", headers=forwarded).status_code == 200
    assert audited_address(session) == "203.0.113.9"


def test_the_server_never_lets_uvicorn_trust_loopback(monkeypatch):
    seen = {}
    monkeypatch.setattr(demo.uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(demo, "configure_logging", lambda *_: None)
    demo.serve(host="127.0.0.1", port=8100, workers=1)
    assert seen["proxy_headers"] is False
