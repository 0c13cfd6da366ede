import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bcp_service.auth.service import create_user
from bcp_service.models import ApiToken
from tests.factories import create_user as fast_user

PASSWORD = "correct horse battery"


def login(client, username, password=PASSWORD, **kw):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password}, **kw)


def test_password_flow_and_me(anon_client, session):
    user = fast_user(session, "admin")
    response = login(anon_client, user.username)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    stored = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert all(token not in (t.token_hash, t.prefix + "x") for t in stored)
    me = anon_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == user.username and me.json()["role"] == "admin"
    assert anon_client.get("/api/v1/auth/me").status_code == 401
    assert anon_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_wrong_password_then_account_lock(anon_client, session):
    user = fast_user(session, "hub", scope_id=1)
    for _ in range(5):
        assert login(anon_client, user.username, "wrong-password").status_code == 401
    locked = login(anon_client, user.username)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "ロック" in locked.json()["detail"][0]["msg"]


def test_address_lock_covers_many_accounts(anon_client, session):
    users = [fast_user(session, "admin") for _ in range(21)]
    for user in users[:20]:
        login(anon_client, user.username, "wrong-password")
    assert login(anon_client, users[20].username).status_code == 429


def test_unknown_user_and_argon2_hashes(anon_client, session):
    assert login(anon_client, "nobody-here", "whatever-password").status_code == 401
    user = create_user(session=session, username="real-user", password="a-long-password", role="admin")
    assert user.password_hash.startswith("$argon2")
    from bcp_service.errors import FieldError

    with pytest.raises(FieldError):
        create_user(session=session, username="short-pw", password="short", role="admin")
    with pytest.raises(FieldError):
        create_user(session=session, username="no-scope", password="a-long-password", role="hub")


def test_integration_tokens_are_hashed_and_revocable(client, anon_client, session):
    system = fast_user(session, "system")
    issued = client.post("/api/v1/auth/api-tokens", json={"name": "JMA feed", "username": system.username})
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert session.exec(select(ApiToken).where(ApiToken.prefix == token[:12])).one().token_hash != token
    headers = {"Authorization": f"Bearer {token}"}
    assert anon_client.get("/api/v1/auth/me", headers=headers).json()["role"] == "system"
    assert client.delete(f"/api/v1/auth/api-tokens/{issued.json()['id']}").json()["revoked_at"] is not None
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_non_admin_cannot_issue_for_others(client_as, session):
    other = fast_user(session, "system")
    hub = client_as("hub", 1)
    response = hub.post("/api/v1/auth/api-tokens", json={"name": "x", "username": other.username})
    assert response.status_code == 422


def test_page_login_cookie_session_and_csrf(app, session):
    user = fast_user(session, "admin")
    with TestClient(app) as browser:
        first = browser.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        form = browser.get("/login?next=/")
        assert "ログイン" in form.text
        csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        bad = browser.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": "forged"})
        assert bad.status_code == 403
        # The refused form comes back with a fresh token (and cookie).
        csrf = bad.text.split('name="csrf_token" value="')[1].split('"')[0]
        ok = browser.post(
            "/login",
            data={"username": user.username, "password": PASSWORD, "csrf_token": csrf, "next": "https://evil.example/"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        set_cookie = ok.headers["set-cookie"]
        assert "bcp_session=" in set_cookie and "HttpOnly" in set_cookie
        home = browser.get("/")
        assert home.status_code == 200 and user.username in home.text
        session_csrf = home.text.split('name="csrf_token" value="')[1].split('"')[0]
        # A cookie-authenticated change without the CSRF token is refused.
        assert browser.post("/logout").status_code == 403
        assert browser.post("/logout", data={"csrf_token": session_csrf}, follow_redirects=False).status_code == 303
        assert browser.get("/", follow_redirects=False).status_code == 303


def test_secure_cookie_when_https(app, session, settings):
    app.state.settings = settings.model_copy(update={"public_base_url": "https://bcp.example.jp"})
    with TestClient(app) as browser:
        assert "Secure" in browser.get("/login").headers["set-cookie"]
