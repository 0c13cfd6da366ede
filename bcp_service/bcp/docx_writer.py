"""Turn a rendered BCP draft (restricted HTML) into an editable Word document.

The accepted subset is what the BCP templates emit and nothing more, so the preview and the
.docx cannot drift apart silently: h1 (class "title" for the document title), h2, h3, p (class
"subtitle" or "note"), ul/ol/li, table/tr/th/td, strong, br, span.blank, and
div.landscape around pages to print in landscape. <head> is skipped. Anything else raises.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html.parser import HTMLParser

import docx
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table
from docx.table import _Cell as _TableCell
from docx.text.paragraph import Paragraph

from bcp_service.bcp.docx_styles import (
    DEFAULT_FONTS,
    LANGUAGE,
    TABLE_STYLE,
    JapaneseFonts,
    add_header_footer,
    set_a4,
    set_up_styles,
)
from bcp_service.bcp.docx_text import CellSource, Segment, cell_width, emit

_SKIPPED = {"head", "title", "style", "script"}
_IGNORED = {"html", "body", "thead", "tbody", "meta"}
_BLOCKS = {"h1", "h2", "h3", "p", "li"}
_HEADER_FILL = "E7E9EE"
# Column sizing works in half-width characters of the table font (9 pt, so 4.5 pt each).
_UNIT = Pt(4.5)
_PAD_UNITS = 3
_SHORT_UNITS = 22
_HEAD_UNITS = 8
_MAX_UNITS = 60
_WRITING_ROW = Mm(8)


def _shade(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def _repeat_as_header(row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


class _DocxBuilder(HTMLParser):
    def __init__(self, document: docx.document.Document) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = document
        self._skip_depth = 0
        self._block: tuple[str, str] | None = None
        self._segments: list[Segment] = []
        self._bold = 0
        self._blank = 0
        self._span_stack: list[bool] = []
        self._lists: list[tuple[str, int | None]] = []
        self._rows: list[list[CellSource]] | None = None
        self._cell: CellSource | None = None
        self._div_stack: list[bool] = []
        self._restore_portrait = False
        self._section_start = False
        self._style_ids: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in _SKIPPED:
            self._skip_depth += 1
            return
        if self._skip_depth or tag in _IGNORED:
            return
        if self._cell is not None and tag not in ("strong", "span", "br"):
            raise ValueError(f"<{tag}> inside a table cell is outside the BCP HTML subset")
        if tag == "strong":
            self._bold += 1
        elif tag == "span":
            is_blank = "blank" in classes
            self._span_stack.append(is_blank)
            self._blank += is_blank
        elif tag == "br":
            self._segments.append(Segment("", br=True))
        elif tag in _BLOCKS:
            self._flush()
            self._block = (tag, " ".join(classes))
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append((tag, self._new_numbering() if tag == "ol" else None))
        elif tag == "table":
            self._flush()
            if self._rows is not None:
                raise ValueError("nested tables are not supported")
            self._rows = []
        elif tag == "tr":
            self._require_table(tag).append([])
        elif tag in ("th", "td"):
            self._cell = CellSource(header=tag == "th")
            self._segments = []
        elif tag == "div":
            landscape = "landscape" in classes
            self._div_stack.append(landscape)
            if landscape:
                self._flush()
                self._start_section(landscape=True)
        else:
            raise ValueError(f"tag <{tag}> is outside the BCP HTML subset")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth -= 1
            return
        if self._skip_depth or tag in _IGNORED:
            return
        if tag == "strong":
            self._bold -= 1
        elif tag == "span":
            self._blank -= self._span_stack.pop()
        elif tag in _BLOCKS:
            self._flush()
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.pop()
        elif tag in ("th", "td"):
            if self._cell is not None:
                self._cell.segments = self._segments
                self._require_table(tag)[-1].append(self._cell)
            self._cell, self._segments = None, []
        elif tag == "table":
            self._write_table(self._require_table(tag))
            self._rows = None
        elif tag == "div" and self._div_stack.pop():
            self._flush()
            self._restore_portrait = True

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._rows is not None and self._cell is None:
            return  # whitespace between table tags
        self._segments.append(Segment(data, bold=self._bold > 0, blank=self._blank > 0))

    def close(self) -> None:
        super().close()
        self._flush()

    def _require_table(self, tag: str) -> list[list[CellSource]]:
        if self._rows is None:
            raise ValueError(f"<{tag}> outside a table")
        return self._rows

    def _start_section(self, *, landscape: bool) -> None:
        body = self.doc.element.body
        last = body[-2] if len(body) > 1 else None  # body[-1] is the closing w:sectPr
        if last is not None and last.tag == qn("w:p") and not "".join(last.itertext()).strip():
            # Close the section on the empty paragraph a table leaves behind, and keep it tiny:
            # a second, section-carrying paragraph after a table that fills the page would
            # push onto a page of its own and print a blank page.
            sentinel = body.get_or_add_sectPr()
            last.set_sectPr(sentinel.clone())
            for ref in sentinel.xpath("w:headerReference|w:footerReference"):
                sentinel.remove(ref)
            sentinel.start_type = WD_SECTION.NEW_PAGE
            fmt = Paragraph(last, self.doc._body).paragraph_format
            fmt.space_before = fmt.space_after = Pt(0)
            fmt.line_spacing = Pt(1)
            section = Section(sentinel, self.doc.part)
        else:
            section = self.doc.add_section(WD_SECTION.NEW_PAGE)
        set_a4(section, landscape=landscape)
        self._section_start = True

    def _apply_style(self, paragraph: Paragraph, name: str) -> None:
        # python-docx resolves a style by scanning every style on each assignment, which made
        # a long draft take seconds; the ids are looked up once per document instead.
        style_id = self._style_ids.get(name)
        if style_id is None:
            style_id = self._style_ids[name] = self.doc.styles[name].style_id
        paragraph._p.get_or_add_pPr().style = style_id

    def _new_paragraph(self, style: str) -> Paragraph:
        if self._restore_portrait:
            self._restore_portrait = False
            self._start_section(landscape=False)
        paragraph = self.doc.add_paragraph()
        self._apply_style(paragraph, style)
        if self._section_start:
            # The section break already starts a page; a heading's page break would add another.
            paragraph.paragraph_format.page_break_before = False
            self._section_start = False
        return paragraph

    def _flush(self) -> None:
        block, segments = self._block, self._segments
        self._block, self._segments = None, []
        if self._cell is not None:
            return
        if block is None and not "".join(s.text for s in segments).strip():
            return
        tag, classes = block or ("p", "")
        if tag == "h1":
            style = "Title" if "title" in classes else "Heading 1"
        elif tag in ("h2", "h3"):
            style = f"Heading {tag[1]}"
        elif tag == "li":
            style = self._list_style()
        else:
            style = "Subtitle" if "subtitle" in classes else "Normal"
        paragraph = self._new_paragraph(style)
        if tag == "li" and self._lists and self._lists[-1][1] is not None:
            self._set_numbering(paragraph, self._lists[-1][1])
        emit(paragraph, segments)
        if "note" in classes:
            for run in paragraph.runs:
                run.font.size = Pt(9)
                run.font.color.rgb = RGBColor(0x44, 0x44, 0x44)

    def _list_style(self) -> str:
        kind = self._lists[-1][0] if self._lists else "ul"
        base = "List Number" if kind == "ol" else "List Bullet"
        return f"{base} 2" if len(self._lists) > 1 else base

    def _new_numbering(self) -> int:
        """A fresh w:num per <ol>, so each numbered list restarts at 1 instead of continuing."""
        numbering = self.doc.part.numbering_part.element
        style_num = self.doc.styles["List Number"].element.pPr.numPr.numId.val
        abstract_id = numbering.num_having_numId(style_num).abstractNumId.val
        num = numbering.add_num(abstract_id)
        num.add_lvlOverride(ilvl=0).add_startOverride(1)
        return num.numId

    @staticmethod
    def _set_numbering(paragraph: Paragraph, num_id: int) -> None:
        num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
        num_pr.get_or_add_ilvl().val = 0
        num_pr.get_or_add_numId().val = num_id

    def _write_table(self, rows: list[list[CellSource]]) -> None:
        rows = [r for r in rows if r]
        if not rows:
            return
        columns = max(len(r) for r in rows)
        if self._restore_portrait:
            self._restore_portrait = False
            self._start_section(landscape=False)
        table = self.doc.add_table(rows=len(rows), cols=columns)
        table.style = self.doc.styles["Table Grid"]
        self._section_start = False
        # table.cell() walks every cell on each call; fetch the grid once (no merged cells here).
        grid = table._cells
        for r, row in enumerate(rows):
            for c in range(columns):
                cell = grid[r * columns + c]
                paragraph = cell.paragraphs[0]
                self._apply_style(paragraph, TABLE_STYLE)
                if c >= len(row):
                    continue
                source = row[c]
                segments = source.segments
                if source.header:
                    segments = [Segment(s.text, True, s.blank, s.br) for s in segments]
                    _shade(cell, _HEADER_FILL)
                emit(paragraph, segments)
        if all(cell.header for cell in rows[0]):
            _repeat_as_header(table.rows[0])
        for source, row in zip(rows, table.rows, strict=True):
            # A patient's row split over two pages is easy to misread in a hurry.
            row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
            if not any(s.text.strip() for cell in source for s in cell.segments):
                # Empty form rows are filled in by hand on the printout.
                row.height = _WRITING_ROW
                row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        self._fit_columns(table, grid, rows, columns)
        # Word merges adjacent tables without a paragraph between them.
        self._apply_style(self.doc.add_paragraph(), TABLE_STYLE)

    def _fit_columns(self, table: Table, grid: list[_TableCell], rows: list[list[CellSource]], columns: int) -> None:
        """Size columns from their content instead of python-docx's even split.

        An even split squeezes "No." and a long transport-plan column to the same width. Short
        cell text gets room to stay on one line (headers may wrap after a few characters); what
        is left goes to the long columns.
        """
        want, floor, fits = [], [], []
        for c in range(columns):
            body = head = 0
            for row in rows:
                if c < len(row):
                    width = cell_width(row[c])
                    if row[c].header:
                        head = max(head, width)
                    else:
                        body = max(body, width)
            want.append(min(max(body, head), _MAX_UNITS) + _PAD_UNITS)
            floor.append(max(min(body, _SHORT_UNITS), min(head, _HEAD_UNITS)) + _PAD_UNITS)
            fits.append(body <= _SHORT_UNITS)
        section = self.doc.sections[-1]
        usable = (section.page_width - section.left_margin - section.right_margin) / _UNIT
        if sum(want) <= usable:
            widths = [w * usable / sum(want) for w in want]
        elif sum(floor) >= usable:
            # Too many columns for the page: short values ("千葉市", "人工呼吸器（TPPV）") keep
            # the width they need to stay on one line, and the long columns share the rest.
            fixed = sum(f for f, short in zip(floor, fits, strict=True) if short)
            long_floor = sum(f for f, short in zip(floor, fits, strict=True) if not short)
            if long_floor and fixed < usable * 0.7:
                scale = (usable - fixed) / long_floor
                widths = [f if short else f * scale for f, short in zip(floor, fits, strict=True)]
            else:
                widths = [f * usable / sum(floor) for f in floor]
        else:
            spare = usable - sum(floor)
            stretch = [w - f for w, f in zip(want, floor, strict=True)]
            widths = [f + spare * s / sum(stretch) for f, s in zip(floor, stretch, strict=True)]
        table.autofit = False
        for c, width in enumerate(widths):
            emu = int(width * _UNIT)
            table.columns[c].width = emu
            for cell in grid[c::columns]:
                cell.width = emu


def html_to_docx(
    html: str,
    *,
    title: str,
    header: str | None = None,
    fonts: JapaneseFonts = DEFAULT_FONTS,
    created: datetime | None = None,
) -> bytes:
    """Build the .docx. ``header`` defaults to the title; ``created`` to now."""
    document = docx.Document()
    set_up_styles(document, fonts)
    first = document.sections[0]
    set_a4(first)
    add_header_footer(first, header or title)
    props = document.core_properties
    props.title = title
    props.subject = "業務継続計画（BCP）草案"
    props.language = LANGUAGE
    props.author = "bcp-service"
    props.comments = "登録情報から自動作成した草案。【要記入】の箇所を記入してください。"
    # Otherwise Word shows python-docx's template dates from 2013 as the creation date.
    props.created = props.modified = created or datetime.now(UTC)
    props.last_modified_by = "bcp-service"
    props.revision = 1

    builder = _DocxBuilder(document)
    builder.feed(html)
    builder.close()

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
