"""Operators' API: the system status that says which part is down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.ops.status import OpsStatus, read_status

router = APIRouter(prefix="/api/v1", tags=["operations"])
Monitor = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub, Role.system))]


@router.get("/system/status", response_model=OpsStatus, responses={503: {"model": OpsStatus}})
def get_system_status(request: Request, response: Response, principal: Monitor):
    """Each background component's heartbeat, and which part is down (``down``: database unreadable or
    unwritable, journal, provider paused or throttled, a silent component). 503 only when the database
    cannot be read; never a 500."""
    status = read_status(request.app)
    if status.database == "unreadable":
        response.status_code = 503
    return status
