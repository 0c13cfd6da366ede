"""Audit that says what changed (issue 27.3): field names, old and new values for non-personal fields,
「変更あり」 for personal ones, for patients, institutions, regions, municipalities and accounts; and the
/audit page in Japanese, filtered and paged by keyset."""

from __future__ import annotations

import re

from sqlmodel import col, select

from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.models import AuditEvent
from tests.factories import create_institution, create_municipality, create_patient, create_prefecture, create_region
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)


def _last(session, action: str) -> AuditEvent:
    return session.exec(
        select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id).desc())
    ).first()


def _by_field(event: AuditEvent) -> dict[str, dict]:
    return {c["field"]: c for c in event.changes}


def test_patient_update_lists_fields_with_values_except_personal_ones(client, session):
    city = create_municipality(session, create_prefecture(session))
    patient = create_patient(session, city, oxygen_flow_lpm=2.0, address="架空町1-1")
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={
            "address": "架空町9-9",
            "name": "変更 後子",
            "oxygen_flow_lpm": 3.5,
            "sex": "female",
            "contacts": [{"phone": "+819011112222", "kind": "family"}],
        },
    )
    assert response.status_code == 200, response.text
    changes = _by_field(_last(session, "patient.update"))
    assert changes["oxygen_flow_lpm"] == {"field": "oxygen_flow_lpm", "old": 2.0, "new": 3.5}
    assert changes["sex"]["new"] == "女性"
    for personal in ("address", "name", "contacts"):
        assert changes[personal] == {"field": personal, "personal": True}
    stored = repr(_last(session, "patient.update").changes) + (_last(session, "patient.update").detail or "")
    assert "架空町" not in stored and "変更 後子" not in stored and "11112222" not in stored
    api = client.get("/api/v1/audit", params={"patient_id": patient.id, "action": "patient.update"}).json()["items"][0]
    assert {"field": "address", "personal": True} in api["changes"] and len(api["chain_hash"]) == 64
    csv = client.get("/api/v1/audit/export.csv", params={"action": "patient.update"}).content.decode("utf-8-sig")
    assert "oxygen_flow_lpm" in csv and "架空町" not in csv


def test_institution_region_and_municipality_updates_are_audited_with_before_and_after(client, session):
    prefecture = create_prefecture(session)
    a, b = create_municipality(session, prefecture), create_municipality(session, prefecture)
    region = create_region(session, prefecture, [a])
    clinic = create_institution(session, a, name="旧クリニック")
    assert (
        client.patch(f"/api/v1/institutions/{clinic.id}", json={"name": "新クリニック", "open_24h": True}).status_code
        == 200
    )
    changes = _by_field(_last(session, "institution.update"))
    assert changes["name"] == {"field": "name", "old": "旧クリニック", "new": "新クリニック"}
    assert changes["open_24h"] == {"field": "open_24h", "old": False, "new": True}
    assert client.patch(f"/api/v1/regions/{region.id}", json={"municipality_ids": [a.id, b.id]}).status_code == 200
    redraw = _by_field(_last(session, "region.update"))
    assert redraw["municipality_ids"] == {"field": "municipality_ids", "old": [a.id], "new": sorted([a.id, b.id])}
    assert client.patch(f"/api/v1/municipalities/{b.id}", json={"name": "新市"}).status_code == 200
    assert _by_field(_last(session, "municipality.update"))["name"]["new"] == "新市"


def test_account_changes_are_audited_without_the_password(browser_as, session):
    admin = browser_as("admin")
    target = browser_as("hub", 1).user
    token = csrf(admin.get("/admin/users").text)
    admin.post(f"/admin/users/{target.id}/active", data={"active": "0", "csrf_token": token}, follow_redirects=False)
    admin.post(f"/admin/users/{target.id}/password", data={"password": "a-new-long-password-1", "csrf_token": token})
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.update").order_by(AuditEvent.id)).all()
    assert [e.changes for e in events] == [
        [{"field": "active", "old": True, "new": False}],
        [{"field": "password", "personal": True}],
    ]
    assert all(e.username == admin.user.username for e in events)
    assert "a-new-long-password-1" not in repr([(e.changes, e.detail) for e in events])


def test_audit_page_is_in_japanese_filters_and_pages_by_keyset(browser_as, session, client):
    city = create_municipality(session, create_prefecture(session))
    patient = create_patient(session, city)
    client.patch(f"/api/v1/patients/{patient.id}", json={"address": "架空町2-2", "uses_suction": True})
    someone = Principal(user_id=999, username="hub-y", role=Role.hub, scope_id=1)
    for i in range(105):
        record(
            session=session,
            principal=someone,
            action="round.check.read",
            patient_ids=[patient.id],
            detail=f"round {i} check {i + 1}",
        )
    admin = browser_as("admin")
    first = admin.get("/audit", params={"patient_id": str(patient.id)})
    assert first.status_code == 200
    table = first.text.split('<table id="audit">', 1)[1].split("</table>", 1)[0]
    shown = re.sub(r"<[^>]+>", " ", table)
    assert "安否確認の閲覧" in shown and "ラウンド 104" in shown and "連携拠点" in shown
    # The English detail, role codes and route paths never reach the page.
    assert not re.search(r"\b(round|check|hub|patient|GET|PATCH)\b", shown.replace("hub-y", "")), shown[:2000]
    assert first.text.count("<tr><td>") == 100
    following = re.search(r'href="/audit\?([^"]*before=\d+)"', first.text).group(1).replace("&amp;", "&")
    rest = admin.get(f"/audit?{following}")
    assert rest.status_code == 200 and rest.text.count("<tr><td>") == 6  # 105 reads and the update
    rest_shown = re.sub(r"<[^>]+>", " ", rest.text.split('<table id="audit">', 1)[1])
    assert "患者の変更" in rest_shown and "住所: 変更あり" in rest_shown and "吸引器: いいえ → はい" in rest_shown
    by_action = admin.get("/audit", params={"action": "patient.update", "patient_id": str(patient.id)})
    assert by_action.text.count("<tr><td>") == 1
    by_account = admin.get("/audit", params={"username": "hub-y", "action": "round.check.read"})
    assert "105 件" in by_account.text
    assert admin.get("/audit", params={"patient_id": "abc"}).status_code == 422
