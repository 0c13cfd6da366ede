"""Audit of a registry change with its before and after (ids and names of areas, never personal data)."""

from __future__ import annotations

import json

from fastapi import Request
from sqlmodel import Session

from bcp_service.audit.service import record as audit
from bcp_service.auth.principal import Principal

DETAIL_SIZE = 500  # the audit column's size


def record_change(session: Session, principal: Principal | None, request: Request | None, *, action: str,
                  key: str, row_id: int, before, after) -> None:
    detail = json.dumps({key: row_id, "before": before, "after": after}, separators=(",", ":"), ensure_ascii=False)
    if len(detail) > DETAIL_SIZE:  # keep the ids, say it was cut
        detail = detail[: DETAIL_SIZE - 20] + "…(truncated)"
    resource = None if request else f"{key.removesuffix('_id')}/{row_id}"
    audit(session=session, principal=principal, action=action, request=request, resource=resource, detail=detail)
