from __future__ import annotations

import io
from datetime import timedelta

import docx
from sqlmodel import select

from bcp_service.bcp.context import BcpContext
from bcp_service.bcp.render import render_draft
from bcp_service.models import AuditEvent, AuditEventPatient, BcpDraft
from bcp_service.models.base import utcnow
from tests.bcp.registry import build_area
from tests.factories import create_institution, create_municipality, create_prefecture


def _generate(client, institution_id, **body):
    response = client.post(f"/api/v1/institutions/{institution_id}/bcp-drafts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _audited(session, action):
    event = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())).first()
    assert event is not None, action
    ids = session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all()
    return event, sorted(ids)


def test_generate_versions_review_finalise(client, session):
    area = build_area(session)

    first = _generate(client, area.clinic.id)
    assert (first["version"], first["state"], first["plan_kind"]) == (1, "draft", "single_doctor_clinic")
    assert first["institution_name"] == "架空みなみクリニック" and first["patient_count"] == 2
    assert next(s["section"] for s in first["sections"]) == "1. 総論" and len(first["sections"]) == 6
    assert first["blank_count"] == len(first["blanks"]) == sum(s["total"] - s["filled"] for s in first["sections"])
    assert 0 < first["completeness"] < 1 and first["docx_url"] == f"/api/v1/bcp-drafts/{first['id']}.docx"
    second = _generate(client, area.clinic.id, plan_kind="home_care_support")
    assert (second["version"], second["plan_kind"]) == (2, "home_care_support")

    versions = client.get(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts").json()
    assert [v["version"] for v in versions] == [2, 1] and "blanks" not in versions[0]

    stale = client.post(f"/api/v1/bcp-drafts/{first['id']}/review", json={"comment": "古い版"})
    assert stale.status_code == 409 and "第2版" in stale.json()["detail"][0]["msg"]
    early = client.post(f"/api/v1/bcp-drafts/{second['id']}/finalise")
    assert early.status_code == 409 and "確認" in early.json()["detail"][0]["msg"]
    assert client.post(f"/api/v1/bcp-drafts/{second['id']}/review", json={"comment": "  "}).status_code == 422

    reviewed = client.post(
        f"/api/v1/bcp-drafts/{second['id']}/review", json={"comment": "非常用電源を記入してください"}
    )
    assert reviewed.status_code == 200 and reviewed.json()["state"] == "reviewed"
    assert client.post(f"/api/v1/bcp-drafts/{second['id']}/review", json={"comment": "再"}).status_code == 409
    final = client.post(f"/api/v1/bcp-drafts/{second['id']}/finalise")
    assert final.status_code == 200 and final.json()["state"] == "final" and final.json()["finalised_at"]
    assert client.post(f"/api/v1/bcp-drafts/{second['id']}/finalise").status_code == 409

    detail = client.get(f"/api/v1/bcp-drafts/{second['id']}").json()
    assert detail["review_comment"] == "非常用電源を記入してください" and detail["state_label"] == "確定"
    third = _generate(client, area.clinic.id)
    assert third["version"] == 3 and client.get(f"/api/v1/bcp-drafts/{second['id']}").json()["state"] == "final"


def test_plan_kind_is_required_where_it_cannot_be_guessed(client, session):
    area = build_area(session)
    pharmacy = area.public_bodies[3]
    response = client.post(f"/api/v1/institutions/{pharmacy.id}/bcp-drafts", json={})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "plan_kind"]
    assert client.post(f"/api/v1/institutions/{pharmacy.id}/bcp-drafts", json={"plan_kind": "nope"}).status_code == 422


def test_docx_holds_one_patient_row_per_linked_patient(client, session):
    area = build_area(session)
    draft = _generate(client, area.station.id)

    response = client.get(draft["docx_url"])

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    assert f"v{draft['version']}.docx" in response.headers["content-disposition"]
    document = docx.Document(io.BytesIO(response.content))
    tables = [t for t in document.tables if "治療・機種" in [c.text for c in t.rows[0].cells]]
    assert len(tables) == 1
    rows = tables[0].rows[1:]
    linked = [area.patients[k] for k in ("clinic_vent", "support_clinic_vent", "active_vent")]
    assert len(rows) == len(linked) == draft["patient_count"]
    assert sorted(row.cells[1].text for row in rows) == sorted(p.name for p in linked)
    assert document.core_properties.title == draft["title"]
    # Built again from the stored version, not from today's registry: the same text every time.
    area.patients["clinic_vent"].name = "改名 後の患者"
    session.add(area.patients["clinic_vent"])
    session.flush()
    again = docx.Document(io.BytesIO(client.get(draft["docx_url"]).content))
    assert [p.text for p in again.paragraphs] == [p.text for p in document.paragraphs]
    assert [c.text for c in again.tables[-1]._cells] == [c.text for c in document.tables[-1]._cells]
    assert "改名 後の患者" not in [row.cells[1].text for row in rows]


def test_generate_read_and_download_are_audited_with_patient_ids(client, session):
    area = build_area(session)
    expected = sorted(area.patients[k].id for k in ("clinic_vent", "clinic_oxygen"))

    draft = _generate(client, area.clinic.id)
    event, ids = _audited(session, "bcp_draft.generate")
    assert ids == expected and event.detail == f"bcp_draft:{draft['id']}"
    client.get(draft["docx_url"])
    assert _audited(session, "bcp_draft.download")[1] == expected
    client.get(f"/api/v1/bcp-drafts/{draft['id']}")
    assert _audited(session, "bcp_draft.read")[1] == expected


def test_coverage_counts_final_draft_none_and_stale(client, client_as, session):
    area = build_area(session)
    for institution in (area.clinic, area.support_clinic):
        draft_id = _generate(client, institution.id)["id"]
        client.post(f"/api/v1/bcp-drafts/{draft_id}/review", json={"comment": "確認しました"})
        assert client.post(f"/api/v1/bcp-drafts/{draft_id}/finalise").status_code == 200
    old = session.exec(select(BcpDraft).where(BcpDraft.institution_id == area.support_clinic.id)).one()
    old.finalised_at = utcnow() - timedelta(days=400)
    session.add(old)
    session.flush()
    _generate(client, area.station.id)

    report = client.get("/api/v1/bcp-coverage", params={"prefecture_id": area.prefecture.id}).json()

    (region,) = report["regions"]
    counts = {k: region[k] for k in ("total", "final", "stale", "draft_only", "none")}
    assert counts == {"total": 4, "final": 2, "stale": 1, "draft_only": 1, "none": 1}
    status = {i["name"]: (i["status"], i["stale"]) for i in region["institutions"]}
    assert status == {
        "架空みなみクリニック": ("final", False),
        "架空きた在宅クリニック": ("final", True),
        "架空訪問看護ステーション": ("draft", False),
        "架空在宅ケア病院": ("none", False),
    }
    (hub,) = report["hubs"]
    assert hub["name"] == area.hub.name and hub["total"] == 4 and hub["none"] == 1

    aggregate = client_as("aggregate").get("/api/v1/bcp-coverage", params={"prefecture_id": area.prefecture.id}).json()
    assert aggregate["regions"][0]["final"] == 2 and aggregate["regions"][0]["institutions"] is None
    hub_view = client_as("hub", area.hub.id).get("/api/v1/bcp-coverage").json()
    assert [h["id"] for h in hub_view["hubs"]] == [area.hub.id] and hub_view["regions"][0]["total"] == 4
    elsewhere = client_as("prefecture", create_prefecture(session).id).get("/api/v1/bcp-coverage").json()
    assert elsewhere["regions"] == [] and elsewhere["hubs"] == []


def test_scope_rules(client, client_as, session):
    area = build_area(session)
    outside = create_institution(session, create_municipality(session, create_prefecture(session)), kind="clinic")
    outside_draft = _generate(client, outside.id)
    station_draft = _generate(client, area.station.id)

    hub = client_as("hub", area.hub.id)
    assert hub.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).status_code == 201
    assert hub.post(f"/api/v1/institutions/{outside.id}/bcp-drafts", json={}).status_code == 404
    assert hub.get(f"/api/v1/bcp-drafts/{outside_draft['id']}").status_code == 404
    assert hub.get(outside_draft["docx_url"]).status_code == 404
    assert hub.get(f"/api/v1/institutions/{outside.id}/bcp-drafts").status_code == 404
    assert hub.post(f"/api/v1/bcp-drafts/{outside_draft['id']}/review", json={"comment": "x"}).status_code == 404

    own = client_as("institution", area.clinic.id)
    assert own.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).status_code == 201
    assert own.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={}).status_code == 404
    assert own.get(f"/api/v1/bcp-drafts/{station_draft['id']}").status_code == 404
    assert own.post(f"/api/v1/bcp-drafts/{station_draft['id']}/review", json={"comment": "x"}).status_code == 403

    prefecture = client_as("prefecture", area.prefecture.id)
    assert prefecture.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={}).status_code == 201
    assert prefecture.post(f"/api/v1/institutions/{outside.id}/bcp-drafts", json={}).status_code == 404

    for role in ("nurse", "aggregate", "system"):
        other = client_as(role, area.station.id)
        assert other.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={}).status_code == 403
        assert other.get(station_draft["docx_url"]).status_code == 403
    assert client_as("institution", area.clinic.id).get("/api/v1/bcp-coverage").status_code == 403


def test_hub_reviews_and_the_institution_finalises_its_own(client_as, session):
    area = build_area(session)
    own = client_as("institution", area.station.id)
    draft = _generate(own, area.station.id)

    hub = client_as("hub", area.hub.id)
    assert hub.post(f"/api/v1/bcp-drafts/{draft['id']}/review", json={"comment": "搬送計画を確認"}).status_code == 200
    response = own.post(f"/api/v1/bcp-drafts/{draft['id']}/finalise")
    assert response.status_code == 200 and response.json()["finalised_by_name"].startswith("institution-")


def test_stored_context_renders_the_stored_html_again(client, session):
    area = build_area(session)
    draft = session.get(BcpDraft, _generate(client, area.active.id)["id"])

    again = render_draft(BcpContext.model_validate(draft.context))

    assert again.html == draft.html and len(again.blanks) == draft.blank_count
    assert draft.context["plan_kind"] == "active_institution" and len(draft.context["area_ventilator_patients"]) == 3


def test_an_enhanced_clinic_cannot_get_the_single_doctor_plan(client, session):
    """Issue 25.6: 機能強化型 (three or more full-time doctors) is refused the one-doctor plan, in Japanese."""
    area = build_area(session)
    clinic = create_institution(session, area.town, kind="home_care_support_clinic", enhanced=True)
    response = client.post(f"/api/v1/institutions/{clinic.id}/bcp-drafts", json={"plan_kind": "single_doctor_clinic"})
    assert response.status_code == 422 and "機能強化型" in response.text
    assert _generate(client, clinic.id, plan_kind="home_care_support")["plan_kind"] == "home_care_support"
