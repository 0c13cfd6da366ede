"""CSV import of patients and institutions: all or nothing, upsert by external id, a report per row.

``import_csv`` is the entry point for the API and the CLI; ``columns`` holds the column tables.
"""

from __future__ import annotations

from sqlmodel import Session

from bcp_service.auth.principal import Principal
from bcp_service.config import Settings
from bcp_service.imports.institutions import InstitutionImport
from bcp_service.imports.patients import PatientImport
from bcp_service.imports.report import ImportReport, RowError
from bcp_service.imports.service import ImportResult, Progress, run_import

KINDS = {"patients": PatientImport, "institutions": InstitutionImport}


def import_csv(
    kind: str,
    data: bytes,
    *,
    session: Session,
    principal: Principal | None,
    settings: Settings,
    dry_run: bool,
    progress: Progress | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Import one CSV file or .xlsx workbook (its first sheet, or ``sheet``) of ``kind`` ("patients" or
    "institutions"). ``principal`` None means no
    scope limit (the CLI, run by an operator on the server). The caller commits."""
    importer = KINDS[kind](session, principal)
    return run_import(
        importer, data, session=session, settings=settings, dry_run=dry_run, progress=progress, sheet=sheet
    )


__all__ = ["KINDS", "ImportReport", "ImportResult", "RowError", "import_csv"]
