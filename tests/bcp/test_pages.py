from __future__ import annotations

from sqlmodel import select

from bcp_service.models import AuditEvent, BcpDraft
from tests.bcp.registry import build_area
from tests.page_clients import browser_as  # noqa: F401  (fixture)
from tests.page_clients import csrf as _csrf


def test_generate_preview_review_and_finalise_through_the_pages(browser_as, session):
    area = build_area(session)
    clinic = browser_as("institution", area.clinic.id)

    page = clinic.get(f"/bcp/institutions/{area.clinic.id}")
    assert page.status_code == 200 and "草案を作成する" in page.text
    made = clinic.post(
        f"/bcp/institutions/{area.clinic.id}/drafts", data={"csrf_token": _csrf(page.text)}, follow_redirects=False
    )
    assert made.status_code == 303
    draft = session.exec(select(BcpDraft).where(BcpDraft.institution_id == area.clinic.id)).one()
    assert made.headers["location"] == f"/bcp/drafts/{draft.id}"

    preview = clinic.get(made.headers["location"])
    assert preview.status_code == 200
    assert "章ごとの記入状況" in preview.text and "未記入項目（23項目）" in preview.text
    assert area.patients["clinic_vent"].name in preview.text  # the plan's own patient list
    assert f"/api/v1/bcp-drafts/{draft.id}.docx" in preview.text
    assert "確認済みにする" not in preview.text and "この版を確定する" not in preview.text
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "bcp_draft.view")).first() is not None
    assert clinic.get(f"/api/v1/bcp-drafts/{draft.id}.docx").status_code == 200  # the link works with the cookie

    hub = browser_as("hub", area.hub.id)
    hub_preview = hub.get(f"/bcp/drafts/{draft.id}")
    assert "確認済みにする" in hub_preview.text
    forged = hub.post(f"/bcp/drafts/{draft.id}/review", data={"comment": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    reviewed = hub.post(
        f"/bcp/drafts/{draft.id}/review",
        data={"comment": "充電場所を記入してください", "csrf_token": _csrf(hub_preview.text)},
        follow_redirects=False,
    )
    assert reviewed.status_code == 303
    again = hub.post(f"/bcp/drafts/{draft.id}/review", data={"comment": "再", "csrf_token": _csrf(hub_preview.text)})
    assert again.status_code == 409 and "既に確認済み" in again.text

    after = clinic.get(f"/bcp/drafts/{draft.id}")
    assert "充電場所を記入してください" in after.text and "この版を確定する" in after.text
    done = clinic.post(
        f"/bcp/drafts/{draft.id}/finalise", data={"csrf_token": _csrf(after.text)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert "が確定しました" in clinic.get(f"/bcp/drafts/{draft.id}").text


def test_pages_keep_to_scope(browser_as, session, client):
    area = build_area(session)
    draft_id = client.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={}).json()["id"]

    other = browser_as("institution", area.clinic.id)
    assert other.get(f"/bcp/drafts/{draft_id}").status_code == 404
    assert other.get(f"/bcp/institutions/{area.station.id}").status_code == 404
    assert browser_as("nurse", area.station.id).get(f"/bcp/drafts/{draft_id}").status_code == 403


def test_drafts_list_and_coverage_pages(browser_as, session, client):
    area = build_area(session)
    client.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={})

    listing = browser_as("hub", area.hub.id).get("/bcp/drafts")
    assert listing.status_code == 200 and "架空みなみクリニック" in listing.text

    admin = browser_as("admin").get("/bcp/coverage", params={"prefecture_id": area.prefecture.id})
    assert admin.status_code == 200
    assert "架空北部在宅医療圏" in admin.text and "架空在宅ケア病院" in admin.text and "計画なし" in admin.text
    counts_only = browser_as("aggregate").get("/bcp/coverage", params={"prefecture_id": area.prefecture.id})
    assert counts_only.status_code == 200 and "架空北部在宅医療圏" in counts_only.text
    assert "架空在宅ケア病院" not in counts_only.text and "件数のみ" in counts_only.text

    home = browser_as("hub", area.hub.id).get("/")
    assert "/bcp/coverage" in home.text and "/bcp/drafts" in home.text
    assert "/bcp/coverage" not in browser_as("institution", area.clinic.id).get("/").text
