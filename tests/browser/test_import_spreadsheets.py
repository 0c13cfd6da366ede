"""Issue 27 done-when: a hub imports an office's .xlsx (a merged title row above the header, 和暦 and
full-width digits, a 備考 column) and a CP932 CSV with title rows, through the pages only, at 360 px: a
dry run, then 「この内容で取り込む」 without choosing the file again."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bcp_service.models import Patient
from tests.browser.pages import PHONE, log_in, page_width
from tests.factories import (
    create_institution,
    create_municipality,
    create_prefecture,
    create_region,
    create_user,
    designate,
)
from tests.imports.test_spreadsheets import workbook

COLUMNS = [
    "外部ID",
    "氏名",
    "氏名カナ",
    "生年月日",
    "市町村コード",
    "在宅酸素",
    "酸素の種類",
    "ボンベ使用可能時間",
    "連絡先1電話",
    "備考",
]


def _import(page, base: str, path: Path) -> None:
    page.goto(f"{base}/imports")
    page.set_input_files("#file", str(path))
    page.click("#check")
    assert "誤りはありません" in page.locator("#report").inner_text()
    assert page_width(page) <= 360, page.url
    page.click("#apply")  # the checked file is kept: no second choice of the file
    page.wait_for_selector("text=取り込みました")


def test_hub_imports_an_xlsx_and_a_titled_csv_on_a_phone(browser, live_server, committed, tmp_path: Path):
    prefecture = create_prefecture(committed)
    city = create_municipality(committed, prefecture)
    region = create_region(committed, prefecture, [city])
    hub = create_institution(committed, city, kind="medical_association")
    designate(committed, hub, region, "hub", covers=[city])
    user = create_user(committed, "hub", hub.id)
    committed.commit()

    book = tmp_path / "患者一覧.xlsx"
    book.write_bytes(
        workbook(
            [
                COLUMNS,
                [
                    "XL-1",
                    "石井 一郎",
                    "イシイ イチロウ",
                    "昭和45年3月2日",
                    city.code,
                    "はい",
                    "酸素濃縮装置",
                    "３",
                    "０９０－５５５５－１２１２",
                    "夜間は長女",
                ],
            ]
        )
    )
    titled = tmp_path / "患者一覧.csv"
    titled.write_bytes(
        (
            "患者一覧（令和8年12月1日現在）\r\n〇〇訪問看護ステーション,,\r\n"
            + ",".join(COLUMNS[:-1])
            + "\r\n"
            + f"CS-1,岡田 花子,オカダ ハナコ,R2/1/5,{city.code},はい,酸素濃縮装置,4,090-5555-3434\r\n"
        ).encode("cp932")
    )

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, user.username, "/")
    _import(page, live_server.url, book)
    _import(page, live_server.url, titled)
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    rows = {p.external_id: p for p in committed.exec(select(Patient).where(Patient.external_id.in_(["XL-1", "CS-1"])))}
    assert rows["XL-1"].birth_date.isoformat() == "1970-03-02" and rows["XL-1"].cylinder_hours == 3
    assert rows["CS-1"].birth_date.isoformat() == "2020-01-05"
    assert errors == []
    context.close()
