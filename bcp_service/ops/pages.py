"""``/metrics`` (Prometheus) and ``/ops`` (the same in Japanese, for admins)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from bcp_service.auth.deps import Access, oauth2_scheme
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.ops import health
from bcp_service.ops.metrics import Snapshot, exposition, read_snapshot
from bcp_service.ops.status import read_status
from bcp_service.page_helpers import page, register_home_link
from bcp_service.webhooks.journal import journal_for

router = APIRouter(include_in_schema=False)
register_home_link(
    "/ops", "運用状況", "送信キュー・送信速度・一時停止・受信記録・各プロセスの応答・回答の進み具合", (Role.admin,)
)
LANE_LABELS = {"sms": "SMS", "voice": "音声電話"}
STATE_LABELS = {
    "queued": "送信待ち",
    "sending": "送信中",
    "sent": "送信済み",
    "delivered": "配達済み",
    "undelivered": "不達",
    "failed": "送信失敗",
    "cancelled": "取消",
}


class OperatorAccess(Access):
    """Admins, or a scraper presenting ``BCP_METRICS_TOKEN`` as its bearer token (no account needed)."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        session: SessionDep,
        _token: Annotated[str | None, Depends(oauth2_scheme)] = None,
    ) -> Principal | None:
        expected = request.app.state.settings.metrics_token.get_secret_value()
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if expected and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode()):
            return None
        return await super().__call__(request, session, _token)


def snapshot(request: Request, session) -> tuple[Snapshot, health.DatabaseHealth]:
    settings = request.app.state.settings
    snap = read_snapshot(session)
    snap.journal = health.check_journal(journal_for(request.app), min_free_mb=settings.health_min_free_mb)
    probe = health.check_write(session, min_free_mb=settings.health_min_free_mb)
    snap.database_writable = probe.writable
    return snap, probe


@router.get("/metrics", dependencies=[Depends(OperatorAccess(Role.admin))])
def metrics(request: Request, session: SessionDep) -> Response:
    """Counts only (no person): not audited as a read of personal data."""
    return Response(exposition(snapshot(request, session)[0]), media_type=CONTENT_TYPE_LATEST)


@router.get("/ops")
def ops_page(request: Request, principal: Annotated[Principal, Depends(Access(Role.admin))], session: SessionDep):
    """Counts and process states only (no person), so no audit row: the page stays up when writes fail."""
    snap, probe = snapshot(request, session)
    # The probe above took SQLite's write lock in this request's session (a savepoint, rolled back): a second
    # probe in a unit of its own would wait for this very request and say "unwritable" (issue 29.3).
    return page(
        "ops/index.html",
        principal,
        snap=snap,
        status=read_status(request.app, database_probe=probe),
        lane_labels=LANE_LABELS,
        state_labels=STATE_LABELS,
    )
