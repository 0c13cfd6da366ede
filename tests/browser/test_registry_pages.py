"""The registry, import and account pages in Chromium: the hub's journey (find a patient typed in
hiragana, correct a phone, import a CP932 file with one bad row, then fixed), a clinic clerk
downloading its BCP draft, an admin creating a nurse account. Each page must fit 360 px."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bcp_service.models import Patient, PatientContact, User
from tests.bcp.registry import build_area
from tests.browser.pages import PHONE, log_in, page_width
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    create_user,
    designate,
)

HEADER = "外部ID,氏名,氏名カナ,生年月日,市町村コード,在宅酸素,酸素の種類,ボンベ使用可能時間,連絡先1電話\r\n"


def _fits(page) -> None:
    assert page_width(page) <= 360, page.url


def test_hub_finds_corrects_and_imports(browser, live_server, committed, tmp_path: Path):
    prefecture = create_prefecture(committed)
    city = create_municipality(committed, prefecture)
    region = create_region(committed, prefecture, [city])
    hub = create_institution(committed, city, kind="medical_association")
    designate(committed, hub, region, "hub", covers=[city])
    patient = create_patient(
        committed, city, name="林 花子", name_kana="ハヤシ ハナコ", phones=["+819011112222", "+81312345678"]
    )
    create_patient(committed, city, name="森 一郎", name_kana="モリ イチロウ")
    user = create_user(committed, "hub", hub.id)
    committed.commit()

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, user.username, "/")
    page.click("text=患者登録簿")
    _fits(page)
    page.fill("#q", "はやし　はなこ")
    page.click("form[role=search] button[type=submit]")
    rows = page.locator("#patients tbody tr")
    assert rows.count() == 1 and "林 花子" in rows.first.inner_text()
    _fits(page)

    page.click("#patients a:has-text('林 花子')")
    assert "リスク区分" in page.locator("#risk").inner_text()
    _fits(page)
    first = page.locator(".contact").first
    first.locator("summary").click()
    first.locator("input[name=phone]").fill("090-1234")  # too short: the message sits under the field
    first.locator("button:has-text('この連絡先を保存')").click()
    assert "電話番号として読めません" in page.locator(".contact").first.inner_text()
    first = page.locator(".contact").first
    first.locator("input[name=phone]").fill("080-3333-4444")
    first.locator("button:has-text('この連絡先を保存')").click()
    page.wait_for_selector("text=保存しました。")
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    phones = committed.exec(
        select(PatientContact.phone).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position)
    ).all()
    assert phones == ["+818033334444", "+81312345678"]  # the other contact is still there

    bad = tmp_path / "患者_誤り.csv"
    good_row = f"P-100,髙橋 一郎,タカハシ イチロウ,1941-02-03,{city.code},はい,酸素濃縮装置,4,090-5555-6666\r\n"
    bad.write_bytes(
        (
            HEADER
            + good_row
            + f"P-101,齋藤 花,サイトウ ハナ,1950-02-30,{city.code},はい,酸素濃縮装置,4,090-5555-7777\r\n"
        ).encode("cp932")
    )
    page.goto(f"{live_server.url}/imports")
    _fits(page)
    page.set_input_files("#file", str(bad))
    page.click("#check")
    report = page.locator("#report").inner_text()
    assert "何も保存していません" in report
    cells = page.locator("#errors tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == "3" and cells[1] == "生年月日"
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    assert committed.exec(select(Patient).where(Patient.external_id.in_(["P-100", "P-101"]))).all() == []

    fixed = tmp_path / "患者.csv"
    fixed.write_bytes(
        (
            HEADER
            + good_row
            + f"P-101,齋藤 花,サイトウ ハナ,1950-02-28,{city.code},はい,酸素濃縮装置,4,090-5555-7777\r\n"
        ).encode("cp932")
    )
    page.set_input_files("#file", str(fixed))
    page.click("#check")
    assert "誤りはありません" in page.locator("#report").inner_text()
    assert "2" in page.locator("#summary").inner_text()
    page.click("#apply")
    page.wait_for_selector("text=取り込みました")
    assert "新規 2" in page.locator("#history").inner_text()
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    assert len(committed.exec(select(Patient).where(Patient.external_id.in_(["P-100", "P-101"]))).all()) == 2
    page.goto(f"{live_server.url}/registry/patients?q=さいとう")
    assert "齋藤 花" in page.locator("#patients").inner_text()
    assert errors == []
    context.close()


def test_clinic_clerk_downloads_its_bcp_draft(browser, live_server, committed, tmp_path: Path):
    area = build_area(committed)
    clerk = create_user(committed, "institution", area.clinic.id)
    committed.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP", accept_downloads=True)
    page = context.new_page()
    log_in(page, live_server.url, clerk.username, "/")
    page.click("text=BCP草案")
    page.goto(f"{live_server.url}/bcp/institutions/{area.clinic.id}")
    page.click("button:has-text('草案を作成する')")
    page.wait_for_url("**/bcp/drafts/*")
    page.goto(f"{live_server.url}/bcp/institutions/{area.clinic.id}")
    with page.expect_download() as download:
        page.click("a:has-text('Word')")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".docx" and saved.read_bytes()[:2] == b"PK"
    context.close()


def test_admin_creates_a_nurse_account(browser, live_server, committed):
    station = create_institution(
        committed,
        create_municipality(committed, create_prefecture(committed)),
        kind="visiting_nurse_station",
        name="架空訪問看護ステーション",
    )
    admin = create_user(committed, "admin")
    committed.commit()
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, live_server.url, admin.username, "/")
    page.click("text=アカウント管理")
    _fits(page)
    page.click("#create summary")
    page.fill("#u-username", "nurse-tanaka")
    page.fill("#u-display_name", "田中 看護師")
    page.fill("#u-password", "tanaka-first-pass")
    page.select_option("#u-role", "nurse")
    page.select_option("#u-scope", label="架空訪問看護ステーション")
    page.click("#create button[type=submit]")
    page.wait_for_selector("text=アカウント nurse-tanaka を作成しました。")
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    user = committed.exec(select(User).where(User.username == "nurse-tanaka")).one()
    assert (user.role, user.scope_id, user.active) == ("nurse", station.id, True)

    nurse_context = browser.new_context(**PHONE)
    nurse = nurse_context.new_page()
    nurse.goto(f"{live_server.url}/login")
    nurse.fill("#username", "nurse-tanaka")
    nurse.fill("#password", "tanaka-first-pass")
    nurse.click("button[type=submit]")
    nurse.wait_for_selector("#home-links")
    assert "担当患者" in nurse.locator("#home-links").inner_text()
    nurse_context.close()
    context.close()
