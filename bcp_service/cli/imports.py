"""``bcp-service import`` (CSV or .xlsx) and ``bcp-service export`` (CSV) against the configured database."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bcp_service.audit.service import record as audit
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.exports.patients import export_columns, export_rows
from bcp_service.exports.writer import write_csv
from bcp_service.imports import import_csv
from bcp_service.imports.report import ImportReport
from bcp_service.models.enums import PatientStatus
from bcp_service.registry.patients import PatientFilters

import_app = typer.Typer(
    help="CSV・Excel (.xlsx) の取り込み: 1行でも誤りがあれば何も書き込みません", no_args_is_help=True
)
export_app = typer.Typer(help="CSVの書き出し (CSV export, UTF-8 BOM付き)", no_args_is_help=True)
console = Console(stderr=True)
SHOWN_ERRORS = 50

CsvPath = typer.Argument(
    ..., exists=True, dir_okay=False, readable=True, help="CSV file (UTF-8 or Shift_JIS) or Excel workbook (.xlsx)"
)
DryRunOption = typer.Option(False, "--dry-run", help="check every row and report; write nothing")
SheetOption = typer.Option(None, "--sheet", help="the worksheet of an .xlsx workbook (default: the first)")


@import_app.command("patients")
def import_patients(file: Path = CsvPath, dry_run: bool = DryRunOption, sheet: str | None = SheetOption) -> None:
    """患者の一覧 (CSV・.xlsx) を取り込む (upsert by 外部ID)."""
    _import("patients", "patient.import", file, dry_run, sheet)


@import_app.command("institutions")
def import_institutions(file: Path = CsvPath, dry_run: bool = DryRunOption, sheet: str | None = SheetOption) -> None:
    """医療機関・事業所の一覧 (CSV・.xlsx) を取り込む (upsert by 外部ID)."""
    _import("institutions", "institution.import", file, dry_run, sheet)


def _import(kind: str, action: str, file: Path, dry_run: bool, sheet: str | None = None) -> None:
    settings = get_settings()
    engine = make_engine(settings.database_url)
    with file.open("rb") as handle:
        data = handle.read(settings.import_max_bytes + 1)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar, make_session_factory(engine)() as session:
        task = bar.add_task("確認中" if dry_run else "取り込み中", total=None)
        result = import_csv(
            kind,
            data,
            session=session,
            principal=None,
            settings=settings,
            dry_run=dry_run,
            sheet=sheet,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        report = result.report
        if report.written:
            audit(
                session=session,
                principal=None,
                action=action,
                patient_ids=result.affected_ids,
                resource=f"cli import {kind}",
                detail=f"created={report.created} updated={report.updated} unchanged={report.unchanged}",
            )
            session.commit()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _print_report(report: ImportReport) -> None:
    summary = (
        f"{report.rows_total:,} 行 (正常 {report.rows_valid:,})  新規 {report.created:,}  更新 {report.updated:,}  "
        f"変更なし {report.unchanged:,}  文字コード {report.encoding or '—'}"
        + (f"  シート「{report.sheet}」" if report.sheet else "")
    )
    console.print(summary)
    if report.header_line > 1:
        console.print(f"{report.header_line} 行目を見出しとして読みました (上の行は表題として読み飛ばし)")
    if report.ignored_columns:
        console.print("取り込まない列: " + "、".join(f"「{c}」" for c in report.ignored_columns))
    for reading in report.readings:
        console.print(f"{reading.column}: 「{reading.written}」を「{reading.read_as}」として登録 ({reading.rows:,} 行)")
    if report.ok:
        state = "確認のみ、書き込みなし (dry run)" if report.dry_run else "書き込みました (written)"
        console.print(f"[green]誤りはありません。{state}[/green]")
        return
    table = Table(title=f"誤り {report.errors_total:,} 件 (最初の {min(SHOWN_ERRORS, len(report.errors))} 件)")
    for heading in ("行", "列", "理由"):
        table.add_column(heading)
    for error in report.errors[:SHOWN_ERRORS]:
        table.add_row(str(error.line) if error.line is not None else "—", error.column or "—", error.reason)
    console.print(table)
    console.print(f"[red]{report.errors_total:,} 件の誤りがあるため、何も書き込んでいません (nothing written)[/red]")


@export_app.command("patients")
def export_patients(
    out: Path | None = typer.Option(None, "--out", "-o", help="file to write (default: standard output)"),
    prefecture_id: int | None = typer.Option(None, help="only this prefecture"),
    municipality_id: int | None = typer.Option(None, help="only this municipality"),
    status: PatientStatus | None = typer.Option(None, help="only this status"),
) -> None:
    """患者一覧をCSVで書き出す (Excel で開ける BOM 付き UTF-8、取り込みと同じ列)."""
    engine = make_engine(get_settings().database_url)
    filters = PatientFilters(prefecture_id=prefecture_id, municipality_id=municipality_id, status=status)
    with make_session_factory(engine)() as session:
        columns = export_columns(session)
        exported: list[int] = []
        rows = export_rows(session, columns, filters, [], exported)
        header = [c.ja for c in columns]
        if out is None:
            write_csv(sys.stdout.buffer, header, rows)
            sys.stdout.buffer.flush()
        else:
            with out.open("wb") as handle:
                write_csv(handle, header, rows)
        audit(
            session=session,
            principal=None,
            action="patient.export",
            patient_ids=exported,
            resource="cli export patients",
        )
        session.commit()
    console.print(f"{len(exported):,} 件を書き出しました (patients exported)")
