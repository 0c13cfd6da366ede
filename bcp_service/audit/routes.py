"""Audit log API: query and export, for admin (everything) and prefecture officers (``audit.scope``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from bcp_service.audit import service
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.csv_export import csv_lines
from bcp_service.db import SessionDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AUDITORS = Access(Role.admin, Role.prefecture)


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    role: str | None
    action: str
    resource: str | None
    patient_ids: list[int]
    patient_count: int
    address: str | None
    detail: str | None
    # What an update changed: {"field", "old", "new"}, or {"field", "personal": true} with no values.
    changes: list[dict] | None = None
    chain_hash: str | None = None  # sha256 chained to the previous event (``bcp-service audit verify``)


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    total: int
    limit: int
    offset: int


def _filters(
    user_id: int | None = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    patient_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> service.AuditFilters:
    return service.AuditFilters(
        user_id=user_id, username=username, action=action, patient_id=patient_id, since=since, until=until
    )


@router.get("", response_model=AuditPage)
def list_audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(AUDITORS)],
    session: SessionDep,
    filters: Annotated[service.AuditFilters, Depends(_filters)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    rows, total = service.list_events(session=session, principal=principal, filters=filters, limit=limit, offset=offset)
    service.record(session=session, principal=principal, action="audit.read", request=request)
    # patient_count: the ids this reader may see (others' patients are neither listed nor counted).
    items = [
        AuditEventPublic(**e.model_dump(exclude={"patient_count"}), patient_ids=ids, patient_count=len(ids))
        for e, ids in rows
    ]
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/export.csv", response_class=StreamingResponse)
def export_audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(AUDITORS)],
    session: SessionDep,
    filters: Annotated[service.AuditFilters, Depends(_filters)],
):
    service.record(session=session, principal=principal, action="audit.export", request=request)
    rows = list(service.iter_events(session=session, principal=principal, filters=filters))
    header = [
        "id",
        "at",
        "user_id",
        "username",
        "role",
        "action",
        "resource",
        "patient_ids",
        "address",
        "detail",
        "changes",
        "chain_hash",
    ]
    lines = csv_lines(
        header,
        (
            [
                e.id,
                e.at.isoformat(),
                e.user_id,
                e.username,
                e.role,
                e.action,
                e.resource,
                " ".join(map(str, ids)),
                e.address,
                e.detail,
                json.dumps(e.changes, ensure_ascii=False) if e.changes else "",
                e.chain_hash,
            ]
            for e, ids in rows
        ),
    )
    return StreamingResponse(
        lines, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="audit.csv"'}
    )
