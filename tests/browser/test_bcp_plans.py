"""A clinic marks its BCP finished through the pages, on a phone (360 px), issue 27.8: it makes a draft,
reads it, picks a file that is not a plan (refused in words), then uploads its finished PDF; the
prefecture's coverage page then counts it as a finished plan. Every page must fit 360 px."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bcp_service.models import BcpPlan
from tests.bcp.registry import build_area
from tests.browser.pages import PHONE, log_in, page_width
from tests.factories import create_user

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _fits(page, width: int = 360) -> None:
    assert page_width(page) <= width, page.url


def test_clinic_uploads_its_finished_plan_on_a_phone(browser, live_server, committed, tmp_path: Path):
    area = build_area(committed)
    clerk = create_user(committed, "institution", area.clinic.id)
    officer = create_user(committed, "prefecture", area.prefecture.id)
    committed.commit()

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, clerk.username, "/")
    page.click("text=BCP草案")
    _fits(page)
    page.click("text=自施設の草案・完成した計画")
    _fits(page)
    page.click("button:has-text('草案を作成する')")
    page.wait_for_selector("text=章ごとの記入状況")
    _fits(page)  # the draft itself: its tables scroll inside their own box, never the page
    assert "電話（かける順）" in page.locator(".bcp-doc").inner_text()

    page.click("text=完成した計画の登録・一覧")
    page.wait_for_selector("#plan_file")
    _fits(page)
    renamed = tmp_path / "計画.pdf"
    renamed.write_text("PDFではない文書です", encoding="utf-8")  # the name says PDF, the content does not
    page.set_input_files("#plan_file", str(renamed))
    page.click("button:has-text('完成した計画として登録する')")
    assert "Word（.docx）または PDF" in page.locator("p.error").inner_text()
    _fits(page)

    final = tmp_path / "BCP_最終版.pdf"
    final.write_bytes(PDF)
    page.set_input_files("#plan_file", str(final))
    page.fill("#plan_note", "院内会議で承認")
    page.click("button:has-text('完成した計画として登録する')")
    page.wait_for_selector("text=第1版を登録しました")
    _fits(page)
    assert "BCP_最終版.pdf" in page.locator("#plan-history").inner_text()
    with page.expect_download() as download:
        page.click("a.button:has-text('ダウンロード')")
    assert Path(download.value.path()).read_bytes() == PDF
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    plan = committed.exec(select(BcpPlan).where(BcpPlan.institution_id == area.clinic.id)).one()
    assert (plan.version, plan.file_type, plan.note) == (1, "pdf", "院内会議で承認")
    context.close()

    for viewport in ({"width": 360, "height": 740}, {"width": 1366, "height": 768}):
        context = browser.new_context(viewport=viewport, locale="ja-JP")
        page = context.new_page()
        log_in(page, live_server.url, officer.username, "/bcp/coverage")
        _fits(page, viewport["width"])
        assert "完成した計画" in page.inner_text("main")
        page.goto(f"{live_server.url}/bcp/institutions/{area.clinic.id}")
        _fits(page, viewport["width"])
        assert "BCP_最終版.pdf" in page.inner_text("main")
        context.close()
    assert errors == []
