"""Page, font and style set-up that makes a python-docx document read properly in Japanese Word.

python-docx's default template is an English one: theme fonts (Calibri/Cambria), US Letter,
en-US. Word picks the East Asian font from ``w:rFonts/@w:eastAsia`` and ignores the plain font
name for kana and kanji, and a theme attribute on the same element wins over an explicit name,
so both have to be handled or Japanese text falls back to whatever the reader's machine likes.
"""

from __future__ import annotations

from dataclasses import dataclass

from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph


@dataclass(frozen=True)
class JapaneseFonts:
    """Font names as Word knows them on a Japanese system.

    The Yu fonts ship with Windows 8.1+ and Office for Mac. They are declared in the font table
    with their English alias, the Shift-JIS charset and a serif/sans family, which is what Word
    uses to substitute MS Mincho/MS Gothic on a machine that lacks them. ``MS_FONTS`` picks the
    MS fonts outright for offices still on older Windows.
    """

    body: str = "游明朝"
    body_alias: str = "Yu Mincho"
    heading: str = "游ゴシック"
    heading_alias: str = "Yu Gothic"


DEFAULT_FONTS = JapaneseFonts()
MS_FONTS = JapaneseFonts(body="ＭＳ 明朝", body_alias="MS Mincho", heading="ＭＳ ゴシック", heading_alias="MS Gothic")

LANGUAGE = "ja-JP"
BODY_SIZE = Pt(10.5)
TABLE_SIZE = Pt(9)
TABLE_STYLE = "BCP Table Text"
MARGIN = Mm(20)

_PANOSE = {"roman": "02020400000000000000", "modern": "020B0400000000000000"}


def _set_rfonts(rpr, name: str) -> None:
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for theme_attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(theme_attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(attr), name)


def _set_lang(rpr) -> None:
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), LANGUAGE)
    lang.set(qn("w:eastAsia"), LANGUAGE)


def _doc_defaults_rpr(doc: DocxDocument):
    styles = doc.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    return defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))


def _style_font(style, name: str, size: Pt | None = None, bold: bool | None = None) -> None:
    _set_rfonts(style.element.get_or_add_rPr(), name)
    if size is not None:
        style.font.size = size
    if bold is not None:
        style.font.bold = bold


def _declare_fonts(doc: DocxDocument, fonts: JapaneseFonts) -> None:
    font_table = next(
        (rel.target_part for rel in doc.part.rels.values() if rel.reltype.endswith("/fontTable")),
        None,
    )
    if font_table is None:
        return
    from lxml import etree

    root = etree.fromstring(font_table.blob)
    known = {f.get(qn("w:name")) for f in root.findall(qn("w:font"))}
    for name, alias, family in (
        (fonts.body, fonts.body_alias, "roman"),
        (fonts.heading, fonts.heading_alias, "modern"),
    ):
        if name in known:
            continue
        font = etree.SubElement(root, qn("w:font"))
        font.set(qn("w:name"), name)
        for tag, value in (
            ("w:altName", alias),
            ("w:panose1", _PANOSE[family]),
            ("w:charset", "80"),
            ("w:family", family),
            ("w:pitch", "variable"),
        ):
            etree.SubElement(font, qn(tag)).set(qn("w:val"), value)
    font_table._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _declare_east_asian_theme_language(doc: DocxDocument) -> None:
    settings = doc.settings.element
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is None:
        theme_lang = OxmlElement("w:themeFontLang")
        settings.append(theme_lang)
    theme_lang.set(qn("w:val"), "en-US")
    theme_lang.set(qn("w:eastAsia"), LANGUAGE)


def set_up_styles(doc: DocxDocument, fonts: JapaneseFonts = DEFAULT_FONTS) -> None:
    defaults = _doc_defaults_rpr(doc)
    _set_rfonts(defaults, fonts.body)
    _set_lang(defaults)

    normal = doc.styles["Normal"]
    _style_font(normal, fonts.body, BODY_SIZE)
    _set_lang(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_after = Pt(4)
    normal.paragraph_format.line_spacing = 1.15

    for name, size, before in (
        ("Heading 1", Pt(15), Pt(6)),
        ("Heading 2", Pt(12.5), Pt(12)),
        ("Heading 3", Pt(11), Pt(8)),
    ):
        style = doc.styles[name]
        _style_font(style, fonts.heading, size, bold=True)
        # Dark text prints well on the office's black-and-white printer.
        style.font.color.rgb = RGBColor(0x1F, 0x2A, 0x44)
        style.paragraph_format.space_before = before
        style.paragraph_format.space_after = Pt(4)
    doc.styles["Heading 1"].paragraph_format.page_break_before = True

    for name, size in (("Title", Pt(20)), ("Subtitle", Pt(12))):
        style = doc.styles[name]
        _style_font(style, fonts.heading, size)
        style.font.color.rgb = RGBColor(0x1F, 0x2A, 0x44)
        style.font.italic = False

    for name in (
        "List Bullet",
        "List Number",
        "List Bullet 2",
        "List Number 2",
        "Header",
        "Footer",
    ):
        _style_font(doc.styles[name], fonts.body)

    table_text = doc.styles.add_style(TABLE_STYLE, 1)  # 1 = paragraph style
    table_text.base_style = normal
    _style_font(table_text, fonts.body, TABLE_SIZE)
    table_text.paragraph_format.space_after = Pt(0)
    table_text.paragraph_format.line_spacing = 1.0

    _declare_fonts(doc, fonts)
    _declare_east_asian_theme_language(doc)


def set_a4(section, *, landscape: bool = False) -> None:
    short, long = Mm(210), Mm(297)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    section.left_margin = section.right_margin = MARGIN
    section.top_margin = section.bottom_margin = MARGIN
    section.header_distance = section.footer_distance = Mm(10)


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, instruction), ("separate", None), ("end", None)):
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        else:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)


def add_header_footer(section, header_text: str) -> None:
    header = section.header.paragraphs[0]
    header.text = header_text
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for run in header.runs:
        run.font.size = Pt(8)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _add_field(footer, "PAGE")
    footer.add_run(" / ")
    _add_field(footer, "NUMPAGES")
    for run in footer.runs:
        run.font.size = Pt(8)
