"""The import page (check a CSV, see every error with its line and column, then apply) and the
export page. Same importer, access rules and audit as ``/api/v1/imports``.

A checked file comes back in the report page as a hidden field, so "apply" needs no second pick
of the file and no server-side storage; past ``CARRY_MAX_BYTES`` the page asks for the file again
(form fields are limited to 1 MB). Applying checks everything again: all or nothing.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlmodel import Session, col, select

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import IDENTIFIED, Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.imports import import_csv
from bcp_service.imports.columns import INSTITUTION_COLUMNS, PATIENT_COLUMNS
from bcp_service.labels import THERAPY_LABELS
from bcp_service.models import AuditEvent
from bcp_service.page_helpers import page, register_home_link
from bcp_service.registry.page_forms import STATUS_LABELS, TIER_LABELS, filter_options
from bcp_service.typed_input import japanese_only

router = APIRouter(include_in_schema=False)
IMPORTERS = (Role.admin, Role.prefecture, Role.hub, Role.institution)
INSTITUTION_IMPORTERS = (Role.admin, Role.prefecture)  # as /api/v1/imports/institutions
Importer = Annotated[Principal, Depends(Access(*IMPORTERS))]
Viewer = Annotated[Principal, Depends(Access(*IDENTIFIED))]
CARRY_MAX_BYTES = 700 * 1024
ACTIONS = {"patients": "patient.import", "institutions": "institution.import"}
KIND_LABELS = {"patients": "患者", "institutions": "医療機関・拠点"}

register_home_link(
    "/imports", "CSV取り込み", "患者・施設のCSV（Excel の CSV / UTF-8 どちらも可）を確認してから取り込む", IMPORTERS
)
register_home_link("/exports", "CSV書き出し", "担当範囲の患者一覧などをExcel用CSVで", IDENTIFIED)


def _kinds(principal: Principal) -> dict[str, str]:
    return {k: v for k, v in KIND_LABELS.items() if k == "patients" or principal.role in INSTITUTION_IMPORTERS}


def _history(session: Session, principal: Principal) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(col(AuditEvent.action).in_(list(ACTIONS.values())))
        .order_by(col(AuditEvent.id).desc())
        .limit(20)
    )
    if principal.role != Role.admin:
        query = query.where(AuditEvent.user_id == principal.user_id)
    return list(session.exec(query).all())


def _page(
    session: Session,
    principal: Principal,
    *,
    report=None,
    kind: str = "patients",
    carry: str | None = None,
    filename: str = "",
    sheet: str = "",
    error: str | None = None,
    status_code: int = 200,
):
    if report is not None and report.errors:  # a page shows the reasons without the report's bracketed English
        report = report.model_copy(
            update={"errors": [e.model_copy(update={"reason": japanese_only(e.reason)}) for e in report.errors]}
        )
    return page(
        "imports/index.html",
        principal,
        status_code=status_code,
        kinds=_kinds(principal),
        kind=kind,
        report=report,
        carry=carry,
        filename=filename,
        sheet=sheet,
        error=error,
        history=_history(session, principal),
        action_kinds={v: k for k, v in ACTIONS.items()},
        kind_labels=KIND_LABELS,
        columns={
            "patients": [
                c
                for c in PATIENT_COLUMNS
                if (not c.export_only and not c.key.startswith("contact")) or c.key.startswith("contact1_")
            ],
            "institutions": list(INSTITUTION_COLUMNS),
        },
    )


@router.get("/imports")
def imports_page(principal: Importer, session: SessionDep):
    return _page(session, principal)


@router.post("/imports")
def import_from_page(
    request: Request,
    principal: Importer,
    session: SessionDep,
    kind: Annotated[str, Form(max_length=20)] = "patients",
    step: Annotated[str, Form(max_length=10)] = "check",
    file: Annotated[UploadFile | None, File()] = None,
    carried: Annotated[str, Form(max_length=1_000_000)] = "",
    filename: Annotated[str, Form(max_length=200)] = "",
    sheet: Annotated[str, Form(max_length=100)] = "",
):
    if kind not in _kinds(principal):
        return _page(
            session, principal, error="この種類の取り込みは行えません (not allowed for your role)", status_code=403
        )
    settings = request.app.state.settings
    data = b""
    if file is not None and file.filename:
        data, filename = file.file.read(settings.import_max_bytes + 1), file.filename
    elif carried:
        try:
            data = base64.b64decode(carried, validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if not data:
        return _page(
            session, principal, kind=kind, error="CSV または Excel (.xlsx) のファイルを選んでください", status_code=422
        )
    dry_run = step != "apply"
    result = import_csv(
        kind,
        data,
        session=session,
        principal=principal,
        settings=settings,
        dry_run=dry_run,
        sheet=sheet.strip() or None,
    )
    report = result.report
    if report.written:
        audit(
            session=session,
            principal=principal,
            action=ACTIONS[kind],
            patient_ids=result.affected_ids,
            request=request,
            detail=f"created={report.created} updated={report.updated} unchanged={report.unchanged}",
        )
    carry = base64.b64encode(data).decode() if dry_run and report.ok and len(data) <= CARRY_MAX_BYTES else None
    return _page(
        session,
        principal,
        report=report,
        kind=kind,
        carry=carry,
        filename=filename[:200],
        sheet=report.sheet or "",
        status_code=200 if report.ok else 422,
    )


@router.get("/exports")
def exports_page(principal: Viewer, session: SessionDep):
    return page(
        "imports/exports.html",
        principal,
        options=filter_options(session, principal),
        therapies=THERAPY_LABELS,
        tiers=TIER_LABELS,
        statuses=STATUS_LABELS,
        auditor=principal.role in (Role.admin, Role.prefecture),
        drafter=principal.role in (Role.admin, Role.prefecture, Role.hub, Role.institution),
    )


EXPORT_FILTERS = ("region_id", "municipality_id", "therapy", "risk_tier", "status")


@router.get("/exports/patients.csv")
def export_patients_from_page(request: Request, principal: Viewer):
    """The form's empty choices dropped, then the API's export (its scope, audit and file)."""
    chosen = {k: v for k in EXPORT_FILTERS if (v := request.query_params.get(k, "")[:40])}
    return RedirectResponse(f"/api/v1/exports/patients.csv?{urlencode(chosen)}", status_code=303)
