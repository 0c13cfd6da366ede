"""Credentials with a life (issue 23.2, 27.6): tokens expire and die with a password change or reset, a
disable, a role or scope change; sessions end when idle; the second factor (TOTP) on the token route and
the pages; the lockout says until when and an admin reset lifts it. Every credential event is audited."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bcp_service.auth import totp
from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from bcp_service.models import ApiToken, AuditEvent, RecoveryCode, User, WebSession
from bcp_service.models.base import utcnow
from tests.factories import bearer, create_prefecture, create_user
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)

PASSWORD = "correct horse battery"


def _token(client, username, otp=None):
    data = {"username": username, "password": PASSWORD} | ({"otp": otp} if otp else {})
    return client.post("/api/v1/auth/token", data=data)


def _actions(session) -> list[str]:
    return list(session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all())


def _enrol(session, settings, user) -> str:
    secret = totp.start_enrolment(session=session, user=user, settings=settings)
    totp.confirm_enrolment(session=session, user=user, code=pyotp.TOTP(secret).now(), settings=settings)
    session.flush()
    return secret


def test_integration_tokens_expire_by_default_and_within_the_maximum(client, session, settings):
    made = client.post("/api/v1/auth/api-tokens", json={"name": "連携"})
    assert made.status_code == 201, made.text
    expires = made.json()["expires_at"]
    assert expires.endswith("Z") or "+" in expires
    row = session.get(ApiToken, made.json()["id"])
    assert abs((row.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)) - timedelta(days=90)) < timedelta(
        minutes=1
    )
    too_long = client.post(
        "/api/v1/auth/api-tokens", json={"name": "x", "expires_days": settings.api_token_max_days + 1}
    )
    assert too_long.status_code == 422 and "日で指定" in too_long.json()["detail"][0]["msg"]
    assert client.post("/api/v1/auth/api-tokens", json={"name": "短期", "expires_days": 7}).status_code == 201
    assert "auth.token_created" in _actions(session)


def test_an_expired_token_is_refused(anon_client, session):
    user = create_user(session, "admin")
    headers = bearer(session, user)
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 200
    row = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 401


@pytest.mark.parametrize("change", ["password", "disable", "role", "scope"])
def test_tokens_and_sessions_die_with_the_account_change(change, anon_client, app, session, settings):
    prefecture, other = create_prefecture(session), create_prefecture(session)
    user = create_user(session, "prefecture", prefecture.id)
    headers = bearer(session, user)
    integration = ApiToken(
        user_id=user.id, kind="integration", token_hash="x" * 64, prefix="bcpi_x", epoch=user.credential_epoch
    )
    session.add(integration)
    cookie, _ = start_web_session(session=session, user=user, settings=settings)
    session.commit()
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 200
    if change == "password":
        user.password_hash = user.password_hash + "x"
    elif change == "disable":
        user.active = False
    elif change == "role":
        user.role = "aggregate"
    else:
        user.scope_id = other.id
    session.add(user)
    session.commit()
    if change == "disable":  # enabling again does not bring the old credentials back
        user.active = True
        session.add(user)
        session.commit()
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 401
    with TestClient(app, cookies={SESSION_COOKIE: cookie}) as browser:
        assert browser.get("/api/v1/auth/me").status_code == 401


def test_sessions_end_after_inactivity_and_at_their_absolute_limit(app, session, settings):
    user = create_user(session, "hub", scope_id=1)
    idle_cookie, idle = start_web_session(session=session, user=user, settings=settings)
    old_cookie, old = start_web_session(session=session, user=user, settings=settings)
    fresh_cookie, _ = start_web_session(session=session, user=user, settings=settings)
    idle.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes, seconds=1)
    old.expires_at = utcnow() - timedelta(seconds=1)
    session.add_all([idle, old])
    session.commit()
    for cookie, expected in ((idle_cookie, 401), (old_cookie, 401), (fresh_cookie, 200)):
        with TestClient(app, cookies={SESSION_COOKIE: cookie}) as browser:
            assert browser.get("/api/v1/auth/me").status_code == expected
    # Activity moves the inactivity clock (at most once a minute).
    row = session.exec(select(WebSession).where(WebSession.id == idle.id)).one()
    row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes - 1)
    session.add(row)
    session.commit()
    with TestClient(app, cookies={SESSION_COOKIE: idle_cookie}) as browser:
        assert browser.get("/api/v1/auth/me").status_code == 200
    session.refresh(row)
    assert row.last_seen_at.replace(tzinfo=None) > (utcnow() - timedelta(seconds=30)).replace(tzinfo=None)


def test_every_route_refuses_a_dead_token(app, anon_client, session):
    """Revoked, expired and reset credentials get 401 on every route (nothing is cached)."""
    from tests.auth.test_route_matrix import access_rules, all_routes, concrete_path

    user = create_user(session, "admin")
    revoked, expired, reset = (bearer(session, user) for _ in range(3))
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).all()
    rows[0].revoked_at = utcnow()
    rows[1].expires_at = utcnow() - timedelta(seconds=1)
    rows[2].epoch = user.credential_epoch - 1  # issued before the last reset
    session.add_all(rows)
    session.commit()
    failures = []
    for method, route in all_routes(app):
        (rule,) = access_rules(route)
        if rule.public:
            continue
        for name, headers in (("revoked", revoked), ("expired", expired), ("reset", reset)):
            answer = anon_client.request(
                method, concrete_path(route.path), headers=headers, json={}, follow_redirects=False
            )
            if answer.status_code != 401 and not (
                answer.status_code == 303 and "/login" in answer.headers.get("location", "")
            ):
                failures.append(f"{name} {method} {route.path}: {answer.status_code}")
    assert failures == []


def test_totp_on_the_token_route_with_replay_refused_and_recovery_codes_once(anon_client, session, settings):
    user = create_user(session, "hub", scope_id=1)
    secret = totp.start_enrolment(session=session, user=user, settings=settings)
    assert secret not in (user.totp_secret or "")  # sealed at rest
    codes = totp.confirm_enrolment(session=session, user=user, code=pyotp.TOTP(secret).now(), settings=settings)
    assert len(codes) == totp.RECOVERY_CODES
    assert all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", c) for c in codes)
    assert codes[0].replace("-", "") not in {r.code_hash for r in session.exec(select(RecoveryCode)).all()}
    session.commit()

    missing = _token(anon_client, user.username)
    assert missing.status_code == 401 and "確認コード" in missing.json()["detail"][0]["msg"]
    assert _token(anon_client, user.username, otp="000000").status_code == 401
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used the current step
    assert _token(anon_client, user.username, otp=code).status_code == 200
    assert _token(anon_client, user.username, otp=code).status_code == 401  # a code works once
    assert _token(anon_client, user.username, otp=codes[0].lower()).status_code == 200
    assert _token(anon_client, user.username, otp=codes[0]).status_code == 401
    actions = _actions(session)
    assert "auth.two_factor_used" in actions and "auth.recovery_code_used" in actions


def test_wrong_codes_lock_the_account_and_the_message_says_until_when(anon_client, session, settings):
    user = create_user(session, "admin")
    secret = _enrol(session, settings, user)
    session.commit()
    for _ in range(settings.login_max_failures_account):
        _token(anon_client, user.username, otp="123456")
    locked = _token(anon_client, user.username, otp=pyotp.TOTP(secret).at(time.time() + 30))
    assert locked.status_code == 429
    assert re.search(r"\d\d月\d\d日 \d\d:\d\d（JST）までロック", locked.json()["detail"][0]["msg"])


def test_an_admin_reset_unlocks(browser_as, anon_client, session):
    user = create_user(session, "nurse", scope_id=1)
    session.commit()
    for _ in range(5):
        anon_client.post("/api/v1/auth/token", data={"username": user.username, "password": "wrong-password"})
    assert _token(anon_client, user.username).status_code == 429
    admin = browser_as("admin")
    reset = admin.post(
        f"/admin/users/{user.id}/password",
        data={"csrf_token": csrf(admin.get("/admin/users").text), "password": PASSWORD},
    )
    assert reset.status_code == 200 and "ロックも解除" in reset.text
    assert _token(anon_client, user.username).status_code == 200
    assert "auth.password_reset" in _actions(session)


def test_two_factor_required_sends_privileged_accounts_to_enrol(app, anon_client, session, settings):
    app.state.settings = settings.model_copy(update={"require_two_factor": True})
    admin = create_user(session, "admin")
    nurse = create_user(session, "nurse", scope_id=1)
    old_cookie, _ = start_web_session(session=session, user=admin, settings=settings)
    session.commit()
    refused = _token(anon_client, admin.username)
    assert refused.status_code == 403 and "二段階認証の登録が必要" in refused.json()["detail"][0]["msg"]
    assert _token(anon_client, nurse.username).status_code == 200  # only admin, prefecture and hub
    with TestClient(app, cookies={SESSION_COOKIE: old_cookie}) as browser:
        assert browser.get("/api/v1/auth/me").status_code == 401  # a session from before the setting
    with TestClient(app) as browser:
        form = browser.get("/login")
        sent = browser.post(
            "/login",
            data={"username": admin.username, "password": PASSWORD, "csrf_token": csrf(form.text), "next": "/"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].startswith("/login/enrol")
        assert browser.get("/", follow_redirects=False).status_code == 303  # not signed in
        enrol = browser.get(sent.headers["location"])
        secret = re.search(r'id="totp-secret">([^<]+)<', enrol.text).group(1).replace(" ", "")
        assert "<svg" in enrol.text and "otpauth://totp/" in enrol.text
        wrong = browser.post("/login/enrol", data={"code": "000000", "csrf_token": csrf(enrol.text), "next": "/"})
        assert wrong.status_code == 422 and "確認コードが違う" in wrong.text
        done = browser.post(
            "/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf(wrong.text), "next": "/"}
        )
        assert done.status_code == 200 and len(re.findall(r"<li><code>", done.text)) == totp.RECOVERY_CODES
        assert browser.get("/api/v1/auth/me").json()["username"] == admin.username
    assert "auth.two_factor_enrolled" in _actions(session)


def test_page_login_asks_for_the_code(app, session, settings):
    user = create_user(session, "prefecture", create_prefecture(session).id)
    secret = _enrol(session, settings, user)
    session.commit()
    with TestClient(app) as browser:
        form = browser.get("/login")
        sent = browser.post(
            "/login",
            data={"username": user.username, "password": PASSWORD, "csrf_token": csrf(form.text), "next": "/board"},
            follow_redirects=False,
        )
        assert sent.headers["location"].startswith("/login/code")
        step = browser.get(sent.headers["location"])
        wrong = browser.post(
            "/login/code", data={"code": "１２３４５６", "csrf_token": csrf(step.text), "next": "/board"}
        )
        assert wrong.status_code == 401 and "確認コードが違う" in wrong.text
        full_width = (
            pyotp.TOTP(secret).at(time.time() + 30).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        )
        ok = browser.post(
            "/login/code",
            data={"code": full_width, "csrf_token": csrf(wrong.text), "next": "/board"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/board"
        assert browser.get("/api/v1/auth/me").status_code == 200
    with TestClient(app) as stranger:  # no pending cookie: back to the password
        assert stranger.post("/login/code", data={"code": "123456", "csrf_token": "x"}).status_code == 401


def test_own_account_page_password_tokens_and_two_factor(browser_as, anon_client, session, settings):
    hub = browser_as("hub", 1)
    page = hub.get("/account")
    assert page.status_code == 200 and "パスワードの変更" in page.text
    token = csrf(page.text)
    made = hub.post("/account/tokens", data={"csrf_token": token, "name": "集計", "expires_days": "３０"})
    assert made.status_code == 201
    secret_token = re.search(r'id="secret">([^<]+)<', made.text).group(1)
    headers = {"Authorization": f"Bearer {secret_token}"}
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 200
    bad = hub.post("/account/tokens", data={"csrf_token": token, "name": "x", "expires_days": "9999"})
    assert bad.status_code == 422 and 'id="e-expires_days"' in bad.text

    wrong = hub.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": "nope-nope-nope",
            "new": "a-new-password-1",
            "confirm": "a-new-password-1",
        },
    )
    assert wrong.status_code == 422 and "現在のパスワードが違います" in wrong.text
    changed = hub.post(
        "/account/password",
        data={"csrf_token": token, "current": PASSWORD, "new": "a-new-password-1", "confirm": "a-new-password-1"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    hub.cookies.set(SESSION_COOKIE, changed.cookies[SESSION_COOKIE])
    assert anon_client.get("/api/v1/auth/me", headers=headers).status_code == 401  # the token died with the password
    page = hub.get("/account?done=password")
    assert page.status_code == 200 and "パスワードを変更しました" in page.text

    enrol = hub.get("/account/two-factor")
    secret = re.search(r'id="totp-secret">([^<]+)<', enrol.text).group(1).replace(" ", "")
    done = hub.post("/account/two-factor", data={"csrf_token": csrf(enrol.text), "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and 'id="recovery-codes"' in done.text
    token = csrf(done.text)
    needs_code = hub.post("/account/tokens", data={"csrf_token": token, "name": "y"})
    assert needs_code.status_code == 422 and "確認コード" in needs_code.text
    row = session.exec(select(ApiToken).where(ApiToken.name == "集計")).one()
    assert (
        hub.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    actions = _actions(session)
    for action in ("auth.token_created", "auth.password_changed", "auth.two_factor_enrolled", "auth.token_revoked"):
        assert action in actions, action


def test_a_person_cannot_revoke_someone_elses_token(browser_as, session):
    other = create_user(session, "system")
    row = ApiToken(user_id=other.id, kind="integration", token_hash="y" * 64, prefix="bcpi_y")
    session.add(row)
    session.flush()
    nurse = browser_as("nurse", 1)
    answer = nurse.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf(nurse.get("/account").text)})
    assert answer.status_code == 404
    session.refresh(row)
    assert row.revoked_at is None and "bcpi_y" not in nurse.get("/account").text


def test_a_changed_secret_key_makes_stored_secrets_unreadable(session, settings):
    user = create_user(session, "admin")
    secret = totp.start_enrolment(session=session, user=user, settings=settings)
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("another-secret-key-entirely")})
    assert totp.unseal(user.totp_secret, settings) == secret and totp.unseal(user.totp_secret, other) is None


def test_the_user_row_keeps_its_epoch_on_creation(session):
    user = User(username="fresh-user", password_hash="x", role="admin")
    session.add(user)
    session.flush()
    assert user.credential_epoch == 0


def test_an_enrolled_account_cannot_be_re_enrolled_from_a_session(browser_as, session, settings):
    """A stolen page session must not swap the second factor: the enrolment page refuses while one is on."""
    hub = browser_as("hub", 1)
    _enrol(session, settings, hub.user)
    session.commit()
    answer = hub.get("/account/two-factor")
    assert answer.status_code == 422 and "登録済み" in answer.text
    session.refresh(hub.user)
    assert hub.user.totp_enabled_at is not None


def test_admin_turns_off_a_lost_second_factor_and_needs_its_own_code_for_tokens(browser_as, session, settings):
    admin = browser_as("admin")
    admin_secret = _enrol(session, settings, admin.user)
    officer = create_user(session, "prefecture", create_prefecture(session).id)
    _enrol(session, settings, officer)
    session.commit()
    token = csrf(admin.get("/admin/users").text)
    without = admin.post(f"/admin/users/{officer.id}/tokens", data={"csrf_token": token, "name": "連携"})
    assert without.status_code == 422 and "確認コード" in without.text
    code = pyotp.TOTP(admin_secret).at(time.time() + 30)
    made = admin.post(f"/admin/users/{officer.id}/tokens", data={"csrf_token": token, "name": "連携", "otp": code})
    assert made.status_code == 200 and 'id="secret">bcpi_' in made.text
    off = admin.post(
        f"/admin/users/{officer.id}/two-factor/disable", data={"csrf_token": token}, follow_redirects=False
    )
    assert off.status_code == 303
    session.refresh(officer)
    assert officer.totp_enabled_at is None and officer.totp_secret is None
    assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == officer.id)).all() == []
    assert "auth.two_factor_disabled" in _actions(session)
