"""Import API: one multipart CSV upload per call; the answer is the report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.datastructures import UploadFile as StarletteUploadFile

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.imports import import_csv
from bcp_service.imports.report import ImportReport, RowError

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])
PatientImporter = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.institution))]
InstitutionImporter = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture))]
# Optional in the signature so that a request without a file gets the documented report (issue 23), not
# FastAPI's default validation error.
CsvFile = Annotated[
    UploadFile | str | None,
    File(description="CSV (UTF-8 with or without BOM, or Shift_JIS/CP932) or an .xlsx workbook"),
]
NO_FILE = "CSV または Excel (.xlsx) のファイルを選んで送ってください (send the file in the multipart field 'file')"
DryRun = Annotated[bool, Query(description="check every row and report; write nothing")]
Sheet = Annotated[
    str | None, Query(max_length=100, description="the worksheet of an .xlsx workbook; its first sheet if absent")
]
REPORT_RESPONSES = {422: {"model": ImportReport, "description": "the file has errors; nothing was written"}}


def _run(
    kind: str,
    action: str,
    request: Request,
    principal: Principal,
    session: Session,
    file: UploadFile | str | None,
    dry_run: bool,
    sheet: str | None,
) -> JSONResponse:
    if not isinstance(file, StarletteUploadFile):  # none, or a plain text field where the file should be
        report = ImportReport(
            kind=kind, dry_run=dry_run, errors_total=1, errors=[RowError(line=None, column=None, reason=NO_FILE)]
        )
        return JSONResponse(status_code=422, content=report.model_dump(mode="json"))
    settings = request.app.state.settings
    # One byte past the limit is enough for the reader to say the file is too large.
    data = file.file.read(settings.import_max_bytes + 1)
    result = import_csv(
        kind, data, session=session, principal=principal, settings=settings, dry_run=dry_run, sheet=sheet
    )
    report = result.report
    if report.written:
        audit(
            session=session,
            principal=principal,
            action=action,
            patient_ids=result.affected_ids,
            request=request,
            detail=f"created={report.created} updated={report.updated} unchanged={report.unchanged}",
        )
    return JSONResponse(status_code=200 if report.ok else 422, content=report.model_dump(mode="json"))


@router.post("/patients", response_model=ImportReport, responses=REPORT_RESPONSES)
def import_patients(
    request: Request,
    principal: PatientImporter,
    session: SessionDep,
    file: CsvFile = None,
    dry_run: DryRun = False,
    sheet: Sheet = None,
):
    """患者CSV・Excelの取り込み。1行でも誤りがあれば何も書き込みません (all or nothing)."""
    return _run("patients", "patient.import", request, principal, session, file, dry_run, sheet)


@router.post("/institutions", response_model=ImportReport, responses=REPORT_RESPONSES)
def import_institutions(
    request: Request,
    principal: InstitutionImporter,
    session: SessionDep,
    file: CsvFile = None,
    dry_run: DryRun = False,
    sheet: Sheet = None,
):
    """医療機関等CSV・Excelの取り込み。1行でも誤りがあれば何も書き込みません (all or nothing)."""
    return _run("institutions", "institution.import", request, principal, session, file, dry_run, sheet)
