"""The audit log page: filters, the CSV link, and its own read recorded; admin and prefecture only."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.models import AuditEvent
from tests.factories import create_prefecture
from tests.page_clients import browser_as  # noqa: F401  (fixture)


def test_audit_page_filters_and_records_its_own_read(browser_as, session):
    someone = Principal(user_id=999, username="hub-x", role=Role.hub, scope_id=1)
    record(session=session, principal=someone, action="patient.read", patient_ids=[41])
    record(session=session, principal=someone, action="patient.export", patient_ids=[41, 42])
    admin = browser_as("admin")
    page = admin.get("/audit", params={"username": "hub-x", "action": "patient.export"})
    assert page.status_code == 200 and "患者CSVの書き出し" in page.text and "患者の閲覧</td>" not in page.text
    assert "/api/v1/audit/export.csv?username=hub-x&amp;action=patient.export" in page.text
    by_patient = admin.get("/audit", params={"patient_id": "42"})
    assert by_patient.text.count("<tr><td>") == 1
    assert admin.get("/audit", params={"since": "2026-13-01"}).status_code == 422
    mine = session.exec(
        select(AuditEvent).where(AuditEvent.username == admin.user.username, AuditEvent.action == "audit.read")
    ).all()
    assert len(mine) == 3
    csv = admin.get("/api/v1/audit/export.csv", params={"username": "hub-x"})
    assert csv.status_code == 200 and "patient.export" in csv.text


def test_hub_cannot_open_the_audit_page(browser_as, session):
    assert browser_as("hub", 1).get("/audit").status_code == 403
    assert browser_as("prefecture", create_prefecture(session).id).get("/audit").status_code == 200
