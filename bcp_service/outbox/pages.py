"""The paused sending lanes (issue 26.1): what is paused and why, and the admin's resume (audited).

A lane resumes by itself when a worker's probe of the account succeeds; an admin who fixed the
setting (or knows the provider is fine again) resumes it here instead of waiting for the probe.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from bcp_service import lanes
from bcp_service.audit.service import record as audit
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/system/lanes", include_in_schema=False)
Admin = Annotated[Principal, Depends(Access(Role.admin))]

register_home_link(
    "/system/lanes", "送信の一時停止", "送信事業者がアカウントを拒否したときの停止理由と再開", (Role.admin,)
)


@router.get("")
def lanes_page(principal: Admin, session: SessionDep, resumed: str | None = None):
    pauses = lanes.list_pauses(session=session)
    resumed_label = lanes.LANE_LABELS.get(resumed or "")
    return page("outbox/lanes.html", principal, pauses=pauses, resumed=resumed_label)


@router.post("/{lane}/resume")
def resume_lane_form(lane: str, request: Request, principal: Admin, session: SessionDep):
    if lane not in lanes.LANE_LABELS:
        return page(
            "outbox/lanes.html",
            principal,
            status_code=404,
            pauses=lanes.list_pauses(session=session),
            resumed=None,
            error="その送信経路はありません。",
        )
    if lanes.resume_lane(session=session, lane=lane, by="admin"):
        audit(session=session, principal=principal, action="outbox.lane_resume", request=request, detail=f"lane={lane}")
    lanes.forget_banner()
    return RedirectResponse(f"/system/lanes?resumed={lane}", status_code=status.HTTP_303_SEE_OTHER)
