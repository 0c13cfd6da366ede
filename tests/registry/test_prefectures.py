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
    ok = admin.post(
        "/admin/prefectures", data={"csrf_token": token, "code": "96", "name": "頁県"}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert session.exec(select(Prefecture).where(Prefecture.code == "96")).first().name == "頁県"
    again = admin.post("/admin/prefectures", data={"csrf_token": token, "code": "96", "name": "頁県二"})
    assert again.status_code == 409 and "登録済み" in field_error(again.text, "code")
    officer = browser_as("prefecture", 1)
    assert officer.get("/admin/prefectures").status_code == 403


def test_a_prefecture_officer_sets_its_own_quiet_hours_on_the_api(client_as, session):
    from tests.factories import create_prefecture

    own, other = create_prefecture(session), create_prefecture(session)
    officer = client_as("prefecture", own.id)
    saved = officer.put(f"/api/v1/prefectures/{own.id}/quiet-hours", json={"start": "22:00", "end": "06:30"})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["quiet_start"], saved.json()["quiet_end"]) == ("22:00", "06:30")
    # Another prefecture's setting is not this officer's to change (nor to learn it exists).
    assert (
        officer.put(f"/api/v1/prefectures/{other.id}/quiet-hours", json={"start": "22:00", "end": "06:00"}).status_code
        == 404
    )
    bad = officer.put(f"/api/v1/prefectures/{own.id}/quiet-hours", json={"start": "25:00", "end": "06:00"})
    assert bad.status_code == 422 and "時:分" in bad.text
    half = officer.put(f"/api/v1/prefectures/{own.id}/quiet-hours", json={"start": "22:00", "end": None})
    assert half.status_code == 422 and "両方" in half.text
    assert (
        client_as("hub", 1)
        .put(f"/api/v1/prefectures/{own.id}/quiet-hours", json={"start": "22:00", "end": "06:00"})
        .status_code
        == 403
    )
    reset = officer.put(f"/api/v1/prefectures/{own.id}/quiet-hours", json={"start": None, "end": None})
    assert reset.status_code == 200 and reset.json()["quiet_start"] is None
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "prefecture.quiet_hours")).all()
    assert len(events) == 2 and '"quiet_start":"22:00"' in events[0].detail


def test_quiet_hours_on_the_page_take_full_width_digits(browser_as, session):
    from tests.factories import create_prefecture

    own, other = create_prefecture(session), create_prefecture(session)
    officer = browser_as("prefecture", own.id)
    form = officer.get("/settings/quiet-hours")
    assert form.status_code == 200 and own.name in form.text and other.name not in form.text
    assert "既定（21:00〜07:00）" in form.text
    token = csrf(form.text)
    ok = officer.post(
        "/settings/quiet-hours",
        data={"csrf_token": token, "prefecture_id": str(own.id), "start": "２２：００", "end": "６：００"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    session.refresh(own)
    assert (own.quiet_start, own.quiet_end) == ("22:00", "06:00")
    bad = officer.post(
        "/settings/quiet-hours", data={"csrf_token": token, "prefecture_id": str(own.id), "start": "夜", "end": "6"}
    )
    assert bad.status_code == 422 and "「時:分」" in bad.text and 'value="夜"' in bad.text
    assert (
        officer.post(
            "/settings/quiet-hours",
            data={"csrf_token": token, "prefecture_id": str(other.id), "start": "22:00", "end": "06:00"},
        ).status_code
        == 404
    )
    assert browser_as("hub", 1).get("/settings/quiet-hours").status_code == 403
