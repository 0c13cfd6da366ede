"""Turning uploaded bytes into rows: CSV (encoding detection) or an Excel workbook (.xlsx), physical line
numbers, the header found below any title rows, header matching."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from bcp_service.imports.columns import Column
from bcp_service.imports.report import ErrorList

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# .xlsx is a zip file; .xls an OLE compound document.
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"
# Offices put a title, a date or the clinic's name above the header: it is looked for this far down.
HEADER_SEARCH_ROWS = 20
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Private-use characters: what Python's cp932 makes of bytes CP932 leaves undefined (0xA0, 0xFD-0xFF)
# and of the vendor "user-defined" area (外字). No name or address is written with them.
PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")
SAVE_AS_HINT = "Excel の「CSV UTF-8 (コンマ区切り)」または「CSV (コンマ区切り)」で保存し直してください"


class FileProblem(Exception):
    """The file as a whole cannot be read; ``reason`` says what to do."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass
class CsvSource:
    encoding: str
    header: list[str]
    lines: int  # physical lines in the file (rows of the sheet), for progress
    rows: Iterator[tuple[int, list[str]]]  # (first physical line of the row, cells)
    header_line: int = 1
    sheet: str | None = None  # the worksheet read, for a workbook
    sheets: list[str] = field(default_factory=list)


def decode(data: bytes, max_bytes: int) -> tuple[str, str]:
    """Return (text, encoding name). Excel in Japan writes CP932 unless told to write UTF-8."""
    if len(data) > max_bytes:
        raise FileProblem(
            f"ファイルが大きすぎます ({max_bytes // (1024 * 1024)} MB まで)。分割して取り込んでください (file too large)"
        )
    if not data.strip(UTF8_BOM + b" \t\r\n"):
        raise FileProblem("ファイルが空です (empty file)")
    if data.startswith(XLS_MAGIC):
        raise FileProblem(
            "古い Excel 形式 (.xls) は読めません。Excel で「Excel ブック (.xlsx)」か「CSV UTF-8 (コンマ区切り)」で"
            "保存し直してください (legacy .xls workbook)"
        )
    if data.startswith(XLSX_MAGIC):
        raise FileProblem(f"Excel のブック (.xlsx) として読めませんでした。{SAVE_AS_HINT} (unreadable workbook)")
    if data.startswith(UTF16_BOMS):
        raise FileProblem(f"UTF-16 (Unicode テキスト) は読み込めません。{SAVE_AS_HINT} (UTF-16 is not supported)")
    if b"\x00" in data:
        raise FileProblem(
            f"CSV ではないファイル (バイナリ) か、読めない文字コードです。{SAVE_AS_HINT} (binary or unknown encoding)"
        )
    if data.startswith(UTF8_BOM):
        candidates = [("utf-8-sig", "UTF-8 (BOM付き)")]
    else:
        candidates = [("utf-8", "UTF-8"), ("cp932", "Shift_JIS (CP932)")]
    for codec, name in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        # A DOS end-of-file mark is harmless; other control characters mean this is not text.
        text = text.rstrip("\x1a")
        if CONTROL.search(text):
            break
        _refuse_private_use(text, name)
        return text, name
    raise FileProblem(
        f"CSV ではないファイル (バイナリ) か、読めない文字コードです。{SAVE_AS_HINT} (binary or unknown encoding)"
    )


def _refuse_private_use(text: str, encoding: str) -> None:
    found = PRIVATE_USE.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    raise FileProblem(
        f"{line} 行目に {encoding} で定義されていない文字 (外字・未定義のバイト) があります。"
        "通常の文字に直してから取り込んでください (undefined or private-use character)",
        line=line,
    )


def open_table(data: bytes, max_bytes: int, columns: Sequence[Column], sheet: str | None = None) -> CsvSource:
    """A CSV file or an .xlsx workbook, positioned after its header row (title rows above it skipped)."""
    if data.startswith(XLSX_MAGIC) and len(data) <= max_bytes:
        source = _open_xlsx(data, sheet)
    else:
        source = open_csv(data, max_bytes)
    return _skip_title_rows(source, columns)


def open_csv(data: bytes, max_bytes: int) -> CsvSource:
    text, encoding = decode(data, max_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return _first_row_as_header(CsvSource(encoding=encoding, header=[], lines=lines, rows=_rows(reader)))


def _first_row_as_header(source: CsvSource) -> CsvSource:
    first = next(source.rows, None)
    if first is None:
        raise FileProblem("ファイルが空です (empty file)")
    source.header_line, source.header = first[0], _trim(first[1])
    return source


def _trim(cells: list[str]) -> list[str]:
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _skip_title_rows(source: CsvSource, columns: Sequence[Column]) -> CsvSource:
    """The header is the first of the top rows that names a required column (else the one naming most
    known columns); the rows above it are a title, a date, the office's name."""
    lookup = header_lookup(columns)
    required = {column.key for column in columns if column.required}
    seen: list[tuple[int, list[str]]] = [(source.header_line, source.header)]
    best = (sum(header_key(t) in lookup for t in source.header), 0)
    chosen = 0 if _names_required(source.header, lookup, required) else None
    while chosen is None and len(seen) < HEADER_SEARCH_ROWS:
        row = next(source.rows, None)
        if row is None:
            break
        seen.append((row[0], _trim(list(row[1]))))
        if _names_required(seen[-1][1], lookup, required):
            chosen = len(seen) - 1
        else:
            best = max(best, (sum(header_key(t) in lookup for t in seen[-1][1]), len(seen) - 1), key=lambda b: b[0])
    if chosen is None:
        chosen = best[1] if best[0] > 0 else 0
    source.header_line, source.header = seen[chosen]
    source.rows = _chain(seen[chosen + 1 :], source.rows)
    return source


def _names_required(cells: list[str], lookup: dict[str, Column], required: set[str]) -> bool:
    named = {lookup[k].key for k in map(header_key, cells) if k in lookup}
    return bool(named) and required <= named


def _chain(
    first: list[tuple[int, list[str]]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield from first
    yield from rest


def _open_xlsx(data: bytes, sheet: str | None) -> CsvSource:
    """The first (or the named) worksheet of a workbook, read-only (rows streamed, never the whole sheet)."""
    from openpyxl import load_workbook  # imported here: the CSV path never pays for it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(
            f"Excel のブック (.xlsx) として読めませんでした ({type(exc).__name__})。{SAVE_AS_HINT} "
            "(unreadable workbook)"
        ) from None
    names = list(book.sheetnames)
    if sheet and sheet not in names:
        raise FileProblem(f"シート「{sheet}」がありません。このブックのシート: {'、'.join(names)} (no such sheet)")
    name = sheet or names[0]
    worksheet = book[name]
    lines = worksheet.max_row or 0

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values]
            if any(c.strip() for c in cells):
                yield number, cells
        book.close()

    source = CsvSource(encoding="Excel (.xlsx)", header=[], lines=lines, rows=rows(), sheet=name, sheets=names)
    return _first_row_as_header(source)


def _cell_text(value: object) -> str:
    """A cell as the CSV importer would read it: dates as 2026-04-01, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _rows(reader) -> Iterator[tuple[int, list[str]]]:
    """Rows with the physical line each starts on; blank lines are skipped."""
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileProblem(_csv_reason(str(exc)), line=previous + 1) from None
        line = previous + 1
        previous = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        yield line, cells


def _csv_reason(message: str) -> str:
    if "field larger than field limit" in message:
        return "セルが長すぎます。この行から先は読み取れませんでした (cell too large)"
    return '引用符 (") の対応が崩れています。この行から先は読み取れませんでした (malformed CSV quoting)'


def header_key(text: str) -> str:
    """Header spellings that mean the same column: 連絡先１電話, 連絡先1 電話, Contact1_Phone, contact1phone."""
    folded = unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").lower()
    folded = re.sub(r"\(必須\)$|\*$", "", folded)
    return re.sub(r"[\s_\-・]", "", folded)


def header_lookup(columns: Sequence[Column]) -> dict[str, Column]:
    lookup: dict[str, Column] = {}
    for column in columns:
        for name in (column.key, column.ja, *column.aliases):
            lookup[header_key(name)] = column
    return lookup


def match_header(
    header: Sequence[str],
    columns: Sequence[Column],
    errors: ErrorList,
    *,
    line: int = 1,
    ignored: list[str] | None = None,
) -> list[Column | None]:
    """Which column each header cell names. Columns the importer does not know (備考, メモ …) are read
    past and listed in ``ignored``; duplicated and missing required columns are errors on the header line."""
    lookup = header_lookup(columns)
    matched: list[Column | None] = []
    seen: dict[str, str] = {}
    if len(header) == 1 and "\t" in header[0]:
        errors.add(
            line,
            None,
            "タブ区切りのようです。カンマ区切りの CSV で保存してください (tab-separated, expected commas)",
            row=False,
        )
        return []
    if not any(header_key(text) in lookup for text in header):
        errors.add(
            line,
            None,
            "知っている列名が1つもありません。見出しの行 (外部ID・氏名 など) があるか、文字コード "
            "(UTF-8 / Shift_JIS) やファイルの種類が違わないか確かめてください (no known column: no header row, wrong "
            "encoding or wrong file?)",
            row=False,
        )
        return []
    for text in header:
        column = lookup.get(header_key(text))
        if column is None:
            if ignored is not None:
                ignored.append(text.strip() or "（見出しのない列）")
        elif column.key in seen:
            errors.add(line, text, f"列「{seen[column.key]}」と同じ列が2回あります (duplicate column)", row=False)
            column = None
        else:
            seen[column.key] = text
        matched.append(column)
    for column in columns:
        if column.required and column.key not in seen:
            errors.add(line, column.ja, "必須の列がありません (required column missing)", row=False)
    return matched
