"""Credential events for the audit log (tokens made and revoked, second factor enrolled and used, recovery
codes used, passwords changed and reset).

``auth`` sits below ``audit`` (import-linter "Audit above auth"), so the recorder is handed in by
``create_app`` (``register(audit.service.record)``), as ``assignments`` is for the nurse's scope.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlmodel import Session

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.models import User

USED = {"totp": "auth.two_factor_used", "recovery": "auth.recovery_code_used"}  # totp.verify's answer → action
RECORDERS: list[Callable[..., object]] = []


def register(recorder: Callable[..., object]) -> None:
    if recorder not in RECORDERS:
        RECORDERS.append(recorder)


def as_principal(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), scope_id=user.scope_id)


def record(
    *,
    session: Session,
    actor: Principal | User | None,
    action: str,
    request: Request | None = None,
    detail: str | None = None,
) -> None:
    """One audit event per credential event, in the caller's transaction. ``detail`` names ids, never a secret."""
    principal = as_principal(actor) if isinstance(actor, User) else actor
    for recorder in RECORDERS:
        recorder(session=session, principal=principal, action=action, request=request, detail=detail)
