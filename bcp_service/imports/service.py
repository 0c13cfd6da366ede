"""The import run shared by every kind of record: read, check every row, write all or nothing.

Rows are checked and written in batches inside one SAVEPOINT, so memory stays flat for large
files. After the first error nothing more is written, checking goes on so that the report lists
every bad row, and at the end the SAVEPOINT is rolled back: one bad row and nothing is saved.
A dry run never writes. The caller owns the outer transaction (the request, or the CLI).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlmodel import Session

from bcp_service.config import Settings
from bcp_service.imports.columns import Column
from bcp_service.imports.reading import FileProblem, match_header, open_table
from bcp_service.imports.report import ErrorList, ImportReport, Reading
from bcp_service.imports.values import FORMULA_REASON, fold, looks_like_formula, unneutralise

log = logging.getLogger(__name__)
BATCH_SIZE = 2000
Progress = Callable[[int, int], None]  # (lines done, lines in the file)


@dataclass
class Candidate:
    """A row that passed the schema: ``values`` are table columns, ``present`` those the file sets."""

    line: int
    key: str
    values: dict[str, object]
    present: frozenset[str]
    contacts: list[dict] | None = None  # None: the file has no contact columns, leave contacts alone


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)  # records created or changed


class RowIssues:
    """Errors of one row, named by the column header as the file spells it."""

    def __init__(self, errors: ErrorList, line: int, names: dict[str, str]) -> None:
        self.errors = errors
        self.line = line
        self.names = names  # column key -> header as the file spells it, else the Japanese header
        self.reported: set[str | None] = set()

    def add(self, key: str | None, reason: str) -> None:
        self.errors.add(self.line, self.names.get(key, key) if key else None, reason)
        self.reported.add(key)

    def __bool__(self) -> bool:
        return bool(self.reported)


class Kind(Protocol):
    kind: str
    columns: tuple[Column, ...]

    def build(self, row: RowIssues, cells: dict[str, object], present: frozenset[str]) -> Candidate | None: ...

    def apply(
        self, batch: list[Candidate], *, write: bool, issues: Callable[[Candidate], RowIssues]
    ) -> BatchOutcome: ...

    def finish(self, add_error: Callable[[int, str, str], None]) -> None:
        """Last checks on what was written, before it is kept; ``add_error(line, column key, reason)``."""


@dataclass
class ImportResult:
    report: ImportReport
    affected_ids: list[int]  # for the audit log; never sent back in the report


def run_import(
    kind: Kind,
    data: bytes,
    *,
    session: Session,
    settings: Settings,
    dry_run: bool,
    progress: Progress | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """``data`` is a CSV file or an .xlsx workbook (its first sheet, or ``sheet``)."""
    report = ImportReport(kind=kind.kind, dry_run=dry_run)
    errors = ErrorList(report, settings.import_max_reported_errors)
    affected: list[int] = []
    try:
        source = open_table(data, settings.import_max_bytes, kind.columns, sheet)
    except FileProblem as problem:
        errors.add(problem.line, None, problem.reason, row=False)
        return ImportResult(report, affected)
    report.encoding, report.sheet, report.header_line = source.encoding, source.sheet, source.header_line
    matched = match_header(source.header, kind.columns, errors, line=source.header_line, ignored=report.ignored_columns)
    if errors:
        return ImportResult(report, affected)
    headers = {column.key: text for column, text in zip(matched, source.header, strict=False) if column is not None}
    present = frozenset(headers)
    names = {column.key: column.ja for column in kind.columns} | headers
    rows = RowReader(kind, matched, settings.import_max_cell_chars, ragged=source.sheet is not None)

    savepoint = None if dry_run else session.begin_nested()
    batch: list[Candidate] = []
    by_line: dict[int, RowIssues] = {}

    def flush() -> None:
        outcome = kind.apply(batch, write=savepoint is not None and not errors, issues=lambda c: by_line[c.line])
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        affected.extend(outcome.ids)
        batch.clear()
        by_line.clear()

    try:
        for line, cells in source.rows:
            report.rows_total += 1
            row = RowIssues(errors, line, names)
            values = rows.read(row, cells)
            candidate = kind.build(row, values, present) if values is not None else None
            if candidate is not None and not row:
                batch.append(candidate)
                by_line[line] = row
            if len(batch) >= BATCH_SIZE:
                flush()
            if progress and report.rows_total % BATCH_SIZE == 0:
                progress(line, source.lines)
        if batch:
            flush()
        if savepoint is not None and not errors:
            kind.finish(lambda line, key, reason: RowIssues(errors, line, names).add(key, reason))
    except FileProblem as problem:
        errors.add(problem.line, None, problem.reason, row=False)
    except BaseException:
        if savepoint is not None and savepoint.is_active:
            savepoint.rollback()
        raise
    if progress:
        progress(source.lines, source.lines)
    if report.rows_total == 0 and not errors:
        errors.add(
            None, None, "データ行がありません。見出しの次の行から1件ずつ書いてください (no data rows)", row=False
        )
    report.readings = [
        Reading(column=names.get(key, key), written=written, read_as=label, rows=count)
        for (key, written, label), count in rows.readings.items()
    ]
    report.rows_valid = report.rows_total - len(errors.bad_lines)
    if savepoint is not None:
        if errors:
            savepoint.rollback()
        else:
            savepoint.commit()
            report.written = True
    if not report.written:
        affected.clear()
    log.info(
        "import.finished",
        extra={
            "import_kind": kind.kind,
            "dry_run": dry_run,
            "rows": report.rows_total,
            "errors": report.errors_total,
            "rows_created": report.created,
            "rows_updated": report.updated,
            "written": report.written,
        },
    )
    return ImportResult(report, affected)


class RowReader:
    """Cell checks common to every kind: shape, length, formulas, then each column's parser."""

    def __init__(self, kind: Kind, matched: list[Column | None], max_chars: int, *, ragged: bool = False) -> None:
        self.matched = matched
        self.ragged = ragged  # a worksheet's row ends at its last filled cell: shorter rows are padded
        self.max_chars = max_chars
        self.key_column = next(c.key for c in kind.columns if c.kind == "key")
        self.first_line_of: dict[str, int] = {}
        self.readings: Counter[tuple[str, str, str]] = Counter()  # (column key, as written, label stored)

    def read(self, row: RowIssues, cells: list[str]) -> dict[str, object] | None:
        width = len(self.matched)
        if len(cells) > width and not any(c.strip() for c in cells[width:]):
            cells = cells[:width]
        if len(cells) < width and self.ragged:
            cells = cells + [""] * (width - len(cells))
        if len(cells) != width:
            row.add(
                None,
                f"列の数がヘッダーと合いません (ヘッダー {width} 列、この行 {len(cells)} 列)。"
                'セルの中のカンマは "" で囲んでください (wrong number of cells)',
            )
            return None
        values: dict[str, object] = {}
        for column, raw in zip(self.matched, cells, strict=True):
            if column is None or column.export_only:
                continue
            # Most cells of a wide file are empty: skip the call for them.
            values[column.key] = self._cell(row, column, raw) if raw or column.required else None
        self._check_key(row, values.get(self.key_column))
        return values

    def _cell(self, row: RowIssues, column: Column, raw: str) -> object:
        text = raw.strip()
        if not text:
            if column.required:
                row.add(column.key, "入力してください (required)")
            return None
        if len(raw) > self.max_chars:
            row.add(column.key, f"長すぎます ({self.max_chars}文字まで) (cell too long)")
            return None
        plain = unneutralise(raw)
        if plain is not None:
            text = plain.strip()
        elif looks_like_formula(raw, allow_sign=column.formula_ok):
            row.add(column.key, FORMULA_REASON)
            return None
        try:
            value = column.parse(text)
        except ValueError as exc:
            row.add(column.key, str(exc))
            return None
        if column.choice is not None:
            self._note_reading(column, text, str(value))
        return value

    def _note_reading(self, column: Column, text: str, value: str) -> None:
        """A spelling that is neither the stored value nor inside its label (マスク for 非侵襲 (NPPV); not TPPV
        for 侵襲 (TPPV), nor 男 for 男性) is counted, to be shown in the report."""
        label = column.choice.labels.get(value, value) if column.choice else value
        if text == value or fold(text).lower() in fold(label).lower():
            return
        self.readings[(column.key, text, label)] += 1

    def _check_key(self, row: RowIssues, key: object) -> None:
        if not isinstance(key, str):
            return
        first = self.first_line_of.setdefault(key, row.line)
        if first != row.line:
            row.add(
                self.key_column,
                f"{first} 行目と同じ外部IDです。1つの外部IDは1行にしてください (duplicate id in the file)",
            )
