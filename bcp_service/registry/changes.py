"""Audit of a registry change with its before and after: the changed fields in the audit row's ``changes``
(audit/changes.py ``diff``: old and new values of non-personal fields, 「変更あり」 for personal ones)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlmodel import Session

from bcp_service.audit.changes import PERSONAL, diff
from bcp_service.audit.service import record as audit
from bcp_service.auth.principal import Principal


def record_change(session: Session, principal: Principal | None, request: Request | None, *, action: str,
                  key: str, row_id: int, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    kind = key.removesuffix("_id")
    resource = None if request else f"{kind}/{row_id}"
    changes = diff(kind if kind in PERSONAL else "region", before or {}, after)
    audit(session=session, principal=principal, action=action, request=request, resource=resource,
          detail=f"{kind} {row_id}", changes=changes)
