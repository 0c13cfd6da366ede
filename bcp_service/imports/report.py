"""What an import tells the person who sent the file."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RowError(BaseModel):
    line: int | None = Field(description="physical line in the file (the header is line 1); null for the whole file")
    column: str | None = Field(description="the column header as written in the file")
    reason: str


class Reading(BaseModel):
    """A value written one way and stored as another (マスク → NPPV), shown so nothing is mapped silently."""

    column: str = Field(description="the column header as written in the file")
    written: str = Field(description="the value as written in the file")
    read_as: str = Field(description="what it is stored as (its label)")
    rows: int = Field(description="how many rows wrote it so")


class ImportReport(BaseModel):
    kind: str
    dry_run: bool
    encoding: str | None = None
    rows_total: int = 0
    rows_valid: int = 0
    created: int = Field(0, description="rows that create a record (or would, on a dry run or a failed import)")
    updated: int = 0
    unchanged: int = 0
    written: bool = Field(
        False, description="whether anything was saved: only when there are no errors and not a dry run"
    )
    errors_total: int = 0
    errors: list[RowError] = Field(
        default_factory=list, description="cut at the configured maximum; errors_total counts all"
    )
    sheet: str | None = Field(None, description="the worksheet read, for an .xlsx workbook")
    header_line: int = Field(1, description="the line (sheet row) of the header; the rows above it were a title")
    ignored_columns: list[str] = Field(
        default_factory=list, description="columns the importer does not know (備考, メモ …): read past, nothing stored"
    )
    readings: list[Reading] = Field(default_factory=list, description="values stored as something else than written")

    @property
    def ok(self) -> bool:
        return self.errors_total == 0


class ErrorList:
    """Collects row errors, keeps the first ``limit`` and counts the rest."""

    def __init__(self, report: ImportReport, limit: int) -> None:
        self.report = report
        self.limit = limit
        self.bad_lines: set[int] = set()

    def add(self, line: int | None, column: str | None, reason: str, *, row: bool = True) -> None:
        """``row=False`` for problems of the file or header, which are not a data row."""
        self.report.errors_total += 1
        if row and line is not None:
            self.bad_lines.add(line)
        if len(self.report.errors) < self.limit:
            self.report.errors.append(RowError(line=line, column=column, reason=reason))

    def __bool__(self) -> bool:
        return self.report.errors_total > 0
