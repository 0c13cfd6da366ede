"""Account changes in the audit log (``user.update``): told by ``auth.account_events``, wired in ``create_app``."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bcp_service.audit.changes import diff
from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import ROLE_LABELS


def record_account_change(
    *, session: Session, principal: Principal | None, user: Any, before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes = diff("user", before, after, {"role": {str(k): v for k, v in ROLE_LABELS.items()}})
    if changes:
        record(
            session=session,
            principal=principal,
            action="user.update",
            resource="account",
            detail=f"user {user.id}",
            changes=changes,
        )
