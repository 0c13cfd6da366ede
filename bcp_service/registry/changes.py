"""Audit of a registry change with its before and after: the changed fields in the audit row's ``changes``
(audit/changes.py ``diff``: old and new values of non-personal fields, 「変更あり」 for personal ones)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from sqlmodel import Session

from bcp_service.audit.changes import PERSONAL, diff
from bcp_service.audit.service import record as audit
from bcp_service.auth.principal import Principal

DETAIL_SIZE = 500  # the audit column's size


def record_change(
    session: Session,
    principal: Principal | None,
    request: Request | None,
    *,
    action: str,
    key: str,
    row_id: int,
    before: Any,
    after: Any,
) -> None:
    """``before`` and ``after``: a row's snapshot (a dict of fields), or one value (the designations of an
    institution, a hub's municipalities), then named by the action's last word."""
    kind = key.removesuffix("_id")
    resource = None if request else f"{kind}/{row_id}"
    # The ids and names before and after (areas and designations hold nothing personal), cut to the column.
    detail = json.dumps({key: row_id, "before": before, "after": after}, separators=(",", ":"), ensure_ascii=False)
    if len(detail) > DETAIL_SIZE:
        detail = detail[: DETAIL_SIZE - 20] + "…(truncated)"
    if not isinstance(after, dict):
        field = action.rsplit(".", 1)[-1]
        before, after = ({} if before is None else {field: before}), {field: after}
    changes = diff(kind if kind in PERSONAL else "region", before or {}, after)
    audit(
        session=session,
        principal=principal,
        action=action,
        request=request,
        resource=resource,
        detail=detail,
        changes=changes,
    )
