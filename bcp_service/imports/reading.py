"""Turning uploaded bytes into CSV rows: encoding detection, physical line numbers, header matching."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bcp_service.imports.columns import Column
from bcp_service.imports.report import ErrorList

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# .xlsx is a zip file; .xls an OLE compound document.
SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
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
    lines: int  # physical lines in the file, for progress
    rows: Iterator[tuple[int, list[str]]]  # (first physical line of the row, cells)


def decode(data: bytes, max_bytes: int) -> tuple[str, str]:
    """Return (text, encoding name). Excel in Japan writes CP932 unless told to write UTF-8."""
    if len(data) > max_bytes:
        raise FileProblem(
            f"ファイルが大きすぎます ({max_bytes // (1024 * 1024)} MB まで)。分割して取り込んでください (file too large)"
        )
    if not data.strip(UTF8_BOM + b" \t\r\n"):
        raise FileProblem("ファイルが空です (empty file)")
    if data.startswith(SPREADSHEET_MAGIC):
        raise FileProblem(f"Excel のブック (.xlsx/.xls) のようです。{SAVE_AS_HINT} (spreadsheet file, not CSV)")
    if data.startswith(UTF16_BOMS):
        raise FileProblem(f"UTF-16 (Unicode テキスト) は読み込めません。{SAVE_AS_HINT} (UTF-16 is not supported)")
    if b"\x00" in data:
        raise FileProblem(f"CSV ではないファイル (バイナリ) か、読めない文字コードです。{SAVE_AS_HINT} (binary or unknown encoding)")
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
    raise FileProblem(f"CSV ではないファイル (バイナリ) か、読めない文字コードです。{SAVE_AS_HINT} (binary or unknown encoding)")


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


def open_csv(data: bytes, max_bytes: int) -> CsvSource:
    text, encoding = decode(data, max_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = _rows(reader)
    first = next(rows, None)
    if first is None:
        raise FileProblem("ファイルが空です (empty file)")
    header = first[1]
    while header and not header[-1].strip():
        header.pop()
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return CsvSource(encoding=encoding, header=header, lines=lines, rows=rows)


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
    return "引用符 (\") の対応が崩れています。この行から先は読み取れませんでした (malformed CSV quoting)"


def header_key(text: str) -> str:
    """Header spellings that mean the same column: 連絡先１電話, 連絡先1 電話, Contact1_Phone, contact1phone."""
    folded = unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").lower()
    folded = re.sub(r"\(必須\)$|\*$", "", folded)
    return re.sub(r"[\s_\-・]", "", folded)


def match_header(header: Sequence[str], columns: Sequence[Column], errors: ErrorList) -> list[Column | None]:
    """Which column each header cell names; reports unknown, duplicated and missing columns on line 1."""
    lookup: dict[str, Column] = {}
    for column in columns:
        for name in (column.key, column.ja, *column.aliases):
            lookup[header_key(name)] = column
    matched: list[Column | None] = []
    seen: dict[str, str] = {}
    if len(header) == 1 and "\t" in header[0]:
        errors.add(1, None, "タブ区切りのようです。カンマ区切りの CSV で保存してください (tab-separated, expected commas)", row=False)
        return []
    if not any(header_key(text) in lookup for text in header):
        errors.add(
            1, None, "知っている列名が1つもありません。文字コード (UTF-8 / Shift_JIS) か、ファイルの種類が違う可能性があります "
            "(no known column: wrong encoding or wrong file?)", row=False,
        )
        return []
    for text in header:
        column = lookup.get(header_key(text))
        if not text.strip():
            errors.add(1, None, "列名が空の列があります (empty column header)", row=False)
        elif column is None:
            errors.add(1, text, "不明な列です。列名の綴りを確認してください (unknown column)", row=False)
        elif column.key in seen:
            errors.add(1, text, f"列「{seen[column.key]}」と同じ列が2回あります (duplicate column)", row=False)
            column = None
        else:
            seen[column.key] = text
        matched.append(column)
    for column in columns:
        if column.required and column.key not in seen:
            errors.add(1, column.ja, "必須の列がありません (required column missing)", row=False)
    return matched
