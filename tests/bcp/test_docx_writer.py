from __future__ import annotations

import io

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Mm

from bcp_service.bcp.docx_styles import MS_FONTS
from bcp_service.bcp.docx_writer import html_to_docx
from bcp_service.bcp.example import example_context
from bcp_service.bcp.render import render_draft
from tests.bcp.factories import bare_context


def _docx(context) -> tuple[docx.document.Document, object]:
    draft = render_draft(context)
    data = html_to_docx(draft.html, title=draft.title)
    return docx.Document(io.BytesIO(data)), draft


def _patient_table(document):
    tables = [t for t in document.tables if "治療・機種" in [c.text for c in t.rows[0].cells]]
    assert len(tables) == 1
    return tables[0]


def test_every_template_converts_bare_and_filled(plan_kind):
    for context in (bare_context(plan_kind), example_context(plan_kind)):
        document, draft = _docx(context)
        assert document.core_properties.title == draft.title
        assert any(p.style.name == "Heading 1" for p in document.paragraphs)


def test_docx_has_real_headings_and_title():
    document, _ = _docx(example_context("single_doctor_clinic"))
    styles = {}
    for p in document.paragraphs:
        styles.setdefault(p.style.name, []).append(p.text)

    assert styles["Title"] == ["架空みなみクリニック　業務継続計画（BCP）草案"]
    assert "1. 総論" in styles["Heading 1"]
    assert "6. 様式" in styles["Heading 1"]
    assert "未記入項目一覧" in styles["Heading 1"]
    assert "3.4 患者の安否確認" in styles["Heading 2"]
    assert "自然災害" in styles["Heading 3"]
    assert styles["List Bullet"] and styles["List Number"]


def test_docx_holds_the_patient_table_one_row_per_patient():
    context = example_context("active_institution")
    document, _ = _docx(context)
    table = _patient_table(document)

    assert len(table.rows) == len(context.patients) + 1
    assert [row.cells[1].text for row in table.rows[1:]] == [p.label for p in context.patients]
    header = table.rows[0]._tr.trPr
    assert header is not None and header.find(qn("w:tblHeader")) is not None
    assert table.style.name == "Table Grid"


def test_bare_docx_keeps_an_empty_patient_form_to_fill_in():
    document, _ = _docx(bare_context("visiting_nurse_station"))
    table = _patient_table(document)
    assert len(table.rows) > 1
    assert all(cell.text == "" for row in table.rows[1:] for cell in row.cells)


def test_japanese_fonts_and_language_are_set():
    document, _ = _docx(example_context("home_care_support"))
    normal_fonts = document.styles["Normal"].element.rPr.rFonts
    assert normal_fonts.get(qn("w:eastAsia")) == "游明朝"
    assert normal_fonts.get(qn("w:ascii")) == "游明朝"
    assert normal_fonts.get(qn("w:asciiTheme")) is None
    heading_fonts = document.styles["Heading 1"].element.rPr.rFonts
    assert heading_fonts.get(qn("w:eastAsia")) == "游ゴシック"
    assert heading_fonts.get(qn("w:eastAsiaTheme")) is None

    defaults = document.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert rpr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "游明朝"
    assert rpr.find(qn("w:lang")).get(qn("w:eastAsia")) == "ja-JP"
    assert rpr.find(qn("w:lang")).get(qn("w:val")) == "ja-JP"
    assert document.core_properties.language == "ja-JP"


def test_page_setup_is_a4_with_landscape_forms():
    document, _ = _docx(example_context("active_institution"))
    first = document.sections[0]
    # Word stores page size in twips, so millimetres come back rounded.
    assert abs(first.page_width - Mm(210)) < Mm(0.1)
    assert abs(first.page_height - Mm(297)) < Mm(0.1)
    assert first.orientation == WD_ORIENT.PORTRAIT
    assert any(s.orientation == WD_ORIENT.LANDSCAPE for s in document.sections)
    assert "架空在宅ケア病院" in first.header.paragraphs[0].text
    assert "PAGE" in first.footer._element.xml


def test_blanks_are_highlighted_and_bold():
    document, draft = _docx(bare_context("single_doctor_clinic"))
    runs = [r for p in document.paragraphs for r in p.runs if r.text.startswith("【要記入：")]
    runs += [
        r
        for t in document.tables
        for row in t.rows
        for cell in row.cells
        for p in cell.paragraphs
        for r in p.runs
        if r.text.startswith("【要記入：")
    ]
    assert len(runs) >= len(draft.blanks)
    assert all(r.bold and r.font.highlight_color == WD_COLOR_INDEX.YELLOW for r in runs)


def test_numbered_lists_restart():
    html = "<ol><li>一</li><li>二</li></ol><p>間</p><ol><li>三</li></ol>"
    document = docx.Document(io.BytesIO(html_to_docx(html, title="t")))
    items = [p for p in document.paragraphs if p.style.name == "List Number"]
    num_ids = [p._p.pPr.numPr.numId.val for p in items]
    assert num_ids[0] == num_ids[1] != num_ids[2]


def test_whitespace_follows_japanese_text_rules():
    html = "<p>人工呼吸器\n  使用者の\n数は 3名、担当は架空 一郎<br>\n 次の行</p>"
    document = docx.Document(io.BytesIO(html_to_docx(html, title="t")))
    text = "".join(r.text if r.text else "\n" for r in document.paragraphs[0].runs)
    assert text == "人工呼吸器使用者の数は 3名、担当は架空 一郎\n次の行"


def test_html_outside_the_subset_is_refused():
    with pytest.raises(ValueError, match="<img>"):
        html_to_docx("<p>a<img src='x'></p>", title="t")
    with pytest.raises(ValueError, match="table cell"):
        html_to_docx("<table><tr><td><p>x</p></td></tr></table>", title="t")


def test_ms_fonts_preset_for_older_windows():
    data = html_to_docx("<h1>見出し</h1><p>本文</p>", title="t", fonts=MS_FONTS)
    document = docx.Document(io.BytesIO(data))
    assert document.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == "ＭＳ 明朝"
    assert document.styles["Heading 1"].element.rPr.rFonts.get(qn("w:eastAsia")) == "ＭＳ ゴシック"


def test_head_is_skipped_and_body_kept():
    html = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>題</title>"
    html += "<style>p { color: red }</style></head><body><p>本文だけ</p></body></html>"
    document = docx.Document(io.BytesIO(html_to_docx(html, title="t")))
    assert [p.text for p in document.paragraphs] == ["本文だけ"]
