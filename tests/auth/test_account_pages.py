"""Account administration on pages: create a nurse, disable, reset a password, API tokens; admin only."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.auth.secrets import verify_password
from bcp_service.models import ApiToken, User, WebSession
from tests.factories import create_institution, create_municipality, create_prefecture
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)


def test_admin_creates_a_nurse_account_with_errors_next_to_the_field(browser_as, session):
    station = create_institution(
        session, create_municipality(session, create_prefecture(session)), kind="visiting_nurse_station"
    )
    admin = browser_as("admin")
    token = csrf(admin.get("/admin/users").text)
    body = {
        "csrf_token": token,
        "username": "nurse-sato",
        "display_name": "佐藤",
        "role": "nurse",
        "scope_id": "",
        "password": "long-enough-pass",
    }
    missing = admin.post("/admin/users", data=body)
    assert missing.status_code == 422 and 'id="e-scope_id"' in missing.text and 'value="nurse-sato"' in missing.text
    created = admin.post("/admin/users", data=body | {"scope_id": str(station.id)})
    assert created.status_code == 201 and "nurse-sato" in created.text
    user = session.exec(select(User).where(User.username == "nurse-sato")).one()
    assert (user.role, user.scope_id) == ("nurse", station.id) and verify_password(
        user.password_hash, "long-enough-pass"
    )


def test_disable_reset_and_tokens(browser_as, session, settings):
    from bcp_service.auth.service import start_web_session
    from tests.factories import create_user

    admin = browser_as("admin")
    other = create_user(session, "prefecture", create_prefecture(session).id)
    start_web_session(session=session, user=other, settings=settings)
    token = csrf(admin.get("/admin/users").text)
    assert (
        admin.post(
            f"/admin/users/{other.id}/active", data={"csrf_token": token, "active": "0"}, follow_redirects=False
        ).status_code
        == 303
    )
    session.refresh(other)
    assert other.active is False
    assert session.exec(select(WebSession).where(WebSession.user_id == other.id)).all() == []
    self_disable = admin.post(f"/admin/users/{admin.user.id}/active", data={"csrf_token": token, "active": "0"})
    assert self_disable.status_code == 422

    reset = admin.post(f"/admin/users/{other.id}/password", data={"csrf_token": token, "password": ""})
    shown = re.search(r'id="secret">([^<]+)<', reset.text).group(1)
    session.refresh(other)
    assert verify_password(other.password_hash, shown)
    assert (
        admin.post(f"/admin/users/{other.id}/password", data={"csrf_token": token, "password": "short"}).status_code
        == 422
    )

    issued = admin.post(
        f"/admin/users/{other.id}/tokens", data={"csrf_token": token, "name": "気象連携", "expires_days": "30"}
    )
    secret = re.search(r'id="secret">([^<]+)<', issued.text).group(1)
    row = session.exec(select(ApiToken).where(ApiToken.user_id == other.id, ApiToken.kind == "integration")).one()
    assert secret.startswith("bcpi_") and row.prefix == secret[:12] and row.expires_at is not None
    assert (
        admin.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    session.refresh(row)
    assert row.revoked_at is not None


def test_only_admin(browser_as, session):
    officer = browser_as("prefecture", create_prefecture(session).id)
    assert officer.get("/admin/users").status_code == 403
    assert "アカウント管理" not in officer.get("/").text
