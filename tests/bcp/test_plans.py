"""Finished plans (issue 27.8): upload the adopted file, its history, scope, audit; coverage counts
finished plans apart from drafts; the call list's phones and namesakes; no screen note in the .docx."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

import pytest
from docx import Document
from sqlmodel import func, select

from bcp_service.bcp.plans import sniff
from bcp_service.models import AuditEvent, BcpPlan
from bcp_service.models.base import utcnow
from tests.auth.test_scope_matrix import accounts, world  # noqa: F401 (fixtures)
from tests.bcp.registry import build_area
from tests.factories import create_patient
from tests.page_clients import browser_as  # noqa: F401  (fixture)
from tests.page_clients import csrf as _csrf

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _docx(client, institution_id: int) -> bytes:
    """A real Word file: the service's own draft of the institution, as a clinic would start from."""
    draft = client.post(f"/api/v1/institutions/{institution_id}/bcp-drafts", json={}).json()
    return client.get(draft["docx_url"]).content


def _plans(session) -> int:
    return session.exec(select(func.count()).select_from(BcpPlan)).one()


def _upload(client, institution_id: int, name: str, data: bytes, **form):
    return client.post(f"/api/v1/institutions/{institution_id}/bcp-plans", files={"file": (name, data)}, data=form)


def test_sniff_reads_the_content_not_the_name():
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "not a word file")
    assert sniff(PDF) == "pdf"
    assert sniff(b"PK\x03\x04 broken zip") is None
    assert sniff(zipped.getvalue()) is None  # a ZIP, but no word/document.xml
    assert sniff("計画書です".encode()) is None


def test_upload_list_download_and_audit(client, session):
    area = build_area(session)
    word = _docx(client, area.clinic.id)
    first = _upload(client, area.clinic.id, "計画_2026.docx", word, note="理事会で承認")
    assert first.status_code == 201, first.text
    plan = first.json()
    assert (plan["version"], plan["file_type"], plan["original_name"], plan["size_bytes"]) == (
        1,
        "docx",
        "計画_2026.docx",
        len(word),
    )
    second = _upload(client, area.clinic.id, "C:\\Users\\事務\\最終版.pdf", PDF)
    assert second.status_code == 201 and second.json()["version"] == 2 and second.json()["file_type"] == "pdf"
    assert second.json()["original_name"] == "最終版.pdf"  # no path from the uploader's machine

    listed = client.get(f"/api/v1/institutions/{area.clinic.id}/bcp-plans").json()
    assert [p["version"] for p in listed] == [2, 1] and listed[1]["note"] == "理事会で承認"

    got = client.get(plan["download_url"])
    assert got.status_code == 200 and got.content == word
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert f"bcp-plan-{area.clinic.id}-v1.docx" in got.headers["content-disposition"]
    assert got.headers["cache-control"] == "no-store"
    assert client.get(second.json()["download_url"]).headers["content-type"] == "application/pdf"
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions.count("bcp_plan.upload") == 2 and actions.count("bcp_plan.download") == 2
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "bcp_plan.upload")).first()
    assert event.detail.startswith(f"bcp_plan:{plan['id']} institution:{area.clinic.id}")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("plan.pdf", "計画書です".encode(), "Word（.docx）または PDF"),  # the name says PDF, the content is text
        ("plan.docx", b"PK\x03\x04 not really a zip", "Word（.docx）または PDF"),
        ("plan.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".docx として保存し直して"),  # old Word
        ("plan.pdf", b"", "空のファイル"),
    ],
)
def test_refused_files_say_why_and_write_nothing(client, session, name, data, words):
    area = build_area(session)
    before = _plans(session)
    refused = _upload(client, area.clinic.id, name, data)
    assert refused.status_code == 422, refused.text
    assert words in refused.text
    assert _plans(session) == before


def test_size_limit(client, session, app, monkeypatch):
    area = build_area(session)
    monkeypatch.setattr(app.state.settings, "plan_max_bytes", 1000)
    big = PDF + b"0" * 1000
    refused = _upload(client, area.clinic.id, "big.pdf", big)
    assert refused.status_code == 422 and "大きすぎます" in refused.text
    assert _upload(client, area.clinic.id, "small.pdf", PDF).status_code == 201


def test_default_limit_is_ten_megabytes(settings, client, session):
    """The upload routes take files above the API's 1 MiB body limit, up to the plan limit."""
    assert settings.plan_max_bytes == 10 * 1024 * 1024
    area = build_area(session)
    scanned = PDF + b"0" * (2 * 1024 * 1024)  # a scanned, signed plan is a few MB
    made = _upload(client, area.clinic.id, "scan.pdf", scanned)
    assert made.status_code == 201 and made.json()["size_bytes"] == len(scanned)
    assert client.get(made.json()["download_url"]).content == scanned


def test_scope_of_upload_and_download(client, client_as, session):
    area = build_area(session)
    plan = _upload(client, area.station.id, "station.pdf", PDF).json()

    other_clinic = client_as("institution", area.clinic.id)
    assert _upload(other_clinic, area.station.id, "x.pdf", PDF).status_code == 404
    assert other_clinic.get(plan["download_url"]).status_code == 404
    assert client_as("nurse", area.station.id).get(plan["download_url"]).status_code == 403

    station = client_as("institution", area.station.id)
    assert station.get(plan["download_url"]).content == PDF
    assert _upload(station, area.station.id, "v2.pdf", PDF).status_code == 201
    hub = client_as("hub", area.hub.id)
    assert hub.get(plan["download_url"]).status_code == 200
    prefecture = client_as("prefecture", area.prefecture.id)
    assert prefecture.get(plan["download_url"]).status_code == 200
    assert _upload(prefecture, area.station.id, "p.pdf", PDF).status_code == 403  # the prefecture reviews, not adopts
    assert _plans(session) == 2


def test_draft_it_was_written_from_must_be_the_institutions(client, session):
    area = build_area(session)
    own = client.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).json()
    foreign = client.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={}).json()
    refused = _upload(client, area.clinic.id, "p.pdf", PDF, draft_id=str(foreign["id"]))
    assert refused.status_code == 422 and "この施設の版ではありません" in refused.text
    made = _upload(client, area.clinic.id, "p.pdf", PDF, draft_id=str(own["id"]))
    assert made.status_code == 201 and made.json()["draft_id"] == own["id"]


def test_coverage_counts_finished_plans_apart_from_drafts(client, session):
    area = build_area(session)
    clinic_draft = client.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).json()
    client.post(f"/api/v1/bcp-drafts/{clinic_draft['id']}/review", json={"comment": "確認しました"})
    client.post(f"/api/v1/bcp-drafts/{clinic_draft['id']}/finalise")
    client.post(f"/api/v1/institutions/{area.station.id}/bcp-drafts", json={})
    plan = _upload(client, area.support_clinic.id, "plan.pdf", PDF).json()  # a plan written without our draft

    report = client.get("/api/v1/bcp-coverage", params={"prefecture_id": area.prefecture.id}).json()
    (region,) = report["regions"]
    counts = {k: region[k] for k in ("total", "finished", "final", "stale", "draft_only", "none")}
    assert counts == {"total": 4, "finished": 1, "final": 1, "stale": 0, "draft_only": 1, "none": 1}
    status = {i["name"]: i["status"] for i in region["institutions"]}
    assert status == {
        "架空きた在宅クリニック": "finished",
        "架空みなみクリニック": "final",
        "架空訪問看護ステーション": "draft",
        "架空在宅ケア病院": "none",
    }
    finished = next(i for i in region["institutions"] if i["status"] == "finished")
    assert finished["latest_plan_id"] == plan["id"] and finished["plan_version"] == 1

    # The clinic adopts its finished plan too; an old upload counts as stale.
    _upload(client, area.clinic.id, "plan.pdf", PDF)
    row = session.exec(select(BcpPlan).where(BcpPlan.institution_id == area.support_clinic.id)).one()
    row.uploaded_at = utcnow() - timedelta(days=400)
    session.add(row)
    session.flush()
    (region,) = client.get("/api/v1/bcp-coverage", params={"prefecture_id": area.prefecture.id}).json()["regions"]
    assert (region["finished"], region["final"], region["stale"]) == (2, 0, 1)
    (hub,) = client.get("/api/v1/bcp-coverage", params={"prefecture_id": area.prefecture.id}).json()["hubs"]
    assert hub["finished"] == 2


def test_upload_through_the_pages(browser_as, session, client):
    area = build_area(session)
    clinic = browser_as("institution", area.clinic.id)
    page = clinic.get(f"/bcp/institutions/{area.clinic.id}")
    assert page.status_code == 200 and "完成した計画として登録する" in page.text and 'id="plans"' in page.text
    token = _csrf(page.text)

    wrong = clinic.post(
        f"/bcp/institutions/{area.clinic.id}/plans",
        data={"csrf_token": token},
        files={"file": ("plan.pdf", "テキストです".encode())},
    )
    assert (
        wrong.status_code == 422
        and "Word（.docx）または PDF" in wrong.text
        and "完成した計画として登録する" in wrong.text
    )
    bad_draft = clinic.post(
        f"/bcp/institutions/{area.clinic.id}/plans",
        data={"csrf_token": token, "draft_id": "abc"},
        files={"file": ("plan.pdf", PDF)},
    )
    assert bad_draft.status_code == 422 and "この施設の版ではありません" in bad_draft.text
    forged = clinic.post(
        f"/bcp/institutions/{area.clinic.id}/plans", data={"csrf_token": "forged"}, files={"file": ("plan.pdf", PDF)}
    )
    assert forged.status_code == 403
    assert _plans(session) == 0

    done = clinic.post(
        f"/bcp/institutions/{area.clinic.id}/plans",
        data={"csrf_token": token, "note": "院内で承認"},
        files={"file": ("最終版.pdf", PDF)},
        follow_redirects=False,
    )
    assert (
        done.status_code == 303 and done.headers["location"] == f"/bcp/institutions/{area.clinic.id}?uploaded=1#plans"
    )
    shown = clinic.get(done.headers["location"])
    assert "第1版を登録しました" in shown.text and "最終版.pdf" in shown.text and "院内で承認" in shown.text
    plan = session.exec(select(BcpPlan)).one()
    assert f"/api/v1/bcp-plans/{plan.id}/file" in shown.text
    assert clinic.get(f"/api/v1/bcp-plans/{plan.id}/file").content == PDF  # the link works with the cookie
    assert clinic.get(f"/bcp/institutions/{area.clinic.id}?uploaded=x").status_code == 200

    prefecture = browser_as("prefecture", area.prefecture.id)
    seen = prefecture.get(f"/bcp/institutions/{area.clinic.id}")
    assert "最終版.pdf" in seen.text and "完成した計画として登録する" not in seen.text
    coverage = browser_as("admin").get("/bcp/coverage", params={"prefecture_id": area.prefecture.id})
    assert "完成した計画" in coverage.text and "完成（第1版）" in coverage.text


def test_call_list_carries_phones_in_order_and_tells_namesakes_apart(client, session):
    area = build_area(session)
    older = create_patient(
        session,
        area.town,
        name="同名 花子",
        active_institution_id=area.clinic.id,
        birth_date=date(1940, 4, 1),
        external_id="K-77",
        uses_ventilator=True,
        phones=["+819011112222", "+81471234567"],
    )
    younger = create_patient(
        session,
        area.town,
        name="同名 花子",
        active_institution_id=area.clinic.id,
        birth_date=date(1990, 4, 1),
        phones=["+819033334444"],
    )
    draft = client.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).json()
    document = Document(io.BytesIO(client.get(draft["docx_url"]).content))
    call_list = next(t for t in document.tables if [c.text for c in t.rows[0].cells][2:3] == ["電話（かける順）"])
    rows = {r.cells[1].text: r.cells[2].text for r in call_list.rows[1:]}
    namesakes = [name for name in rows if name.startswith("同名 花子")]
    assert len(namesakes) == 2 and len(set(namesakes)) == 2
    older_row = next(n for n in namesakes if "ID K-77" in n)
    younger_row = next(n for n in namesakes if f"患者ID {younger.id}" in n)
    assert "歳" in older_row and "歳" in younger_row and older.id != younger.id
    phones = rows[older_row]
    assert phones.index("090-1111-2222") < phones.index("04-7123-4567")
    assert "本人・携帯" in phones and "家族・固定電話" in phones
    # the order of the list is the one triage order: the ventilator user before the oxygen users
    names = [r.cells[1].text for r in call_list.rows[1:]]
    assert names.index(older_row) < names.index(younger_row)


def test_screen_note_stays_on_the_page(world, accounts, client, session):
    """A hub that may not see one of the clinic's patients: the page says so, the .docx does not."""
    w, a = world, accounts
    create_patient(session, w["a2"], name="圏外 三郎", active_institution_id=w["clinic1"].id)
    create_patient(session, w["a1"], name="圏内 四郎", active_institution_id=w["clinic1"].id)
    session.flush()
    draft = client.post(f"/api/v1/institutions/{w['clinic1'].id}/bcp-drafts").json()
    page = a["hub1"].get(f"/bcp/drafts/{draft['id']}").text
    assert "担当範囲外の患者 1 名は" in page and "Word の文書には入りません" in page
    docx = zipfile.ZipFile(io.BytesIO(a["hub1"].get(f"/api/v1/bcp-drafts/{draft['id']}.docx").content))
    document = docx.read("word/document.xml").decode()
    assert "圏内 四郎" in document and "担当範囲外" not in document and "除いています" not in document


def test_a_backup_holds_the_plan_files(tmp_path):
    """The files live in the database, so `db backup` (SQLite here; pg_dump takes the table the same way) keeps them."""
    import sqlite3

    from sqlmodel import Session

    from bcp_service import migrations
    from bcp_service.db import make_engine
    from bcp_service.ops.backup import backup
    from tests.factories import create_institution, create_municipality, create_prefecture

    engine = make_engine(f"sqlite:///{tmp_path / 'live.sqlite3'}")
    try:
        migrations.upgrade(engine)
        with Session(engine) as session:
            town = create_municipality(session, create_prefecture(session))
            clinic = create_institution(session, town, kind="clinic")
            session.add(
                BcpPlan(
                    institution_id=clinic.id,
                    version=1,
                    file_type="pdf",
                    original_name="p.pdf",
                    size_bytes=len(PDF),
                    sha256="0" * 64,
                    uploaded_by_name="clerk",
                    content=PDF,
                )
            )
            session.commit()
        backup(engine, tmp_path / "one.backup")
    finally:
        engine.dispose()
    kept = sqlite3.connect(tmp_path / "one.backup")
    try:
        assert kept.execute("SELECT content FROM bcp_plan").fetchall() == [(PDF,)]
    finally:
        kept.close()
