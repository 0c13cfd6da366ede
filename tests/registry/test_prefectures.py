"""Prefectures are data: an admin adds one on the API or the admin page (issue 23)."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import AuditEvent, Prefecture
from tests.page_clients import browser_as, csrf, field_error  # noqa: F401 (fixture)


def test_an_admin_adds_a_prefecture_on_the_api(client, client_as, session):
    created = client.post("/api/v1/prefectures", json={"code": "98", "name": "試験県"})
    assert created.status_code == 201, created.text
    assert {"code": "98", "name": "試験県"}.items() <= created.json().items()
    assert client.post("/api/v1/prefectures", json={"code": "98", "name": "別名県"}).status_code == 409
    assert client.post("/api/v1/prefectures", json={"code": "9", "name": "短い県"}).status_code == 422
    assert client.post("/api/v1/prefectures", json={"code": "00", "name": "零県"}).status_code == 422
    officer = client_as("prefecture", created.json()["id"])
    assert officer.post("/api/v1/prefectures", json={"code": "97", "name": "勝手県"}).status_code == 403
    assert "98" in {p["code"] for p in officer.get("/api/v1/prefectures").json()}
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "prefecture.create")).all()
    assert any('"code":"98"' in e.detail and '"before":null' in e.detail for e in events)


def test_an_admin_adds_a_prefecture_on_the_page(browser_as, session):
    admin = browser_as("admin")
    form = admin.get("/admin/prefectures")
    assert form.status_code == 200 and "都道府県を追加する" in form.text
    token = csrf(form.text)
    bad = admin.post("/admin/prefectures", data={"csrf_token": token, "code": "1", "name": "県"})
    assert bad.status_code == 422 and field_error(bad.text, "code") and field_error(bad.text, "name")
    assert not any(c.isascii() and c.isalpha() for c in field_error(bad.text, "code").split("(")[0])
    ok = admin.post("/admin/prefectures", data={"csrf_token": token, "code": "96", "name": "頁県"}, follow_redirects=False)
    assert ok.status_code == 303
    assert session.exec(select(Prefecture).where(Prefecture.code == "96")).first().name == "頁県"
    again = admin.post("/admin/prefectures", data={"csrf_token": token, "code": "96", "name": "頁県二"})
    assert again.status_code == 409 and "登録済み" in field_error(again.text, "code")
    officer = browser_as("prefecture", 1)
    assert officer.get("/admin/prefectures").status_code == 403
