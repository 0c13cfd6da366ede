"""Export API: CSV downloads for Excel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import IDENTIFIED, Access
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.db import SessionDep
from bcp_service.exports.patients import export_columns, export_rows
from bcp_service.exports.writer import csv_download, spool_csv
from bcp_service.models.enums import PatientStatus, RiskTier, Therapy
from bcp_service.registry.patients import PatientFilters

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Identified = Annotated[Principal, Depends(Access(*IDENTIFIED))]


@router.get("/patients.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def export_patients(
    request: Request,
    principal: Identified,
    session: SessionDep,
    prefecture_id: int | None = None,
    region_id: int | None = None,
    municipality_id: int | None = None,
    hub_id: int | None = None,
    institution_id: int | None = None,
    therapy: Therapy | None = None,
    risk_tier: RiskTier | None = None,
    status: PatientStatus | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name or kana contains")] = None,
):
    """患者一覧のCSV (BOM付きUTF-8、取り込みと同じ列)。一覧と同じ絞り込みと担当範囲。"""
    filters = PatientFilters(
        prefecture_id=prefecture_id,
        region_id=region_id,
        municipality_id=municipality_id,
        hub_id=hub_id,
        institution_id=institution_id,
        therapy=therapy,
        risk_tier=risk_tier,
        status=status,
        q=q,
    )
    columns = export_columns(session)
    exported: list[int] = []
    spool = spool_csv(
        [c.ja for c in columns], export_rows(session, columns, filters, patient_scope(principal), exported)
    )
    audit(session=session, principal=principal, action="patient.export", patient_ids=exported, request=request)
    tz = request.app.state.settings.tz
    return csv_download(spool, f"patients-{datetime.now(tz):%Y%m%d-%H%M}.csv")
