"""The audit log page: who read or changed which patients, when, from where; filters and CSV.

Same rule and list function as ``/api/v1/audit`` (admin and prefecture officers); opening the
page is itself recorded (``audit.read``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from bcp_service.audit import service
from bcp_service.audit.routes import AUDITORS
from bcp_service.auth.principal import Principal
from bcp_service.db import SessionDep
from bcp_service.page_helpers import page, register_home_link
from bcp_service.timeutil import display_zone

router = APIRouter(include_in_schema=False)
Auditor = Annotated[Principal, Depends(AUDITORS)]
PAGE_SIZE = 100
ACTIONS = {
    "patient.list": "患者一覧の閲覧", "patient.read": "患者の閲覧", "patient.create": "患者の登録", "patient.update": "患者の変更",
    "patient.export": "患者CSVの書き出し", "patient.import": "患者CSVの取り込み", "institution.import": "施設CSVの取り込み",
    "audit.read": "監査ログの閲覧", "audit.export": "監査ログの書き出し",
}
# Credential events (issue 23.2, auth/events.py).
ACTIONS |= {
    "auth.token_created": "APIトークンの発行", "auth.token_revoked": "APIトークンの無効化",
    "auth.two_factor_enrolled": "二段階認証の登録", "auth.two_factor_used": "確認コードでのログイン",
    "auth.recovery_code_used": "回復コードの使用", "auth.recovery_codes_renewed": "回復コードの再発行",
    "auth.two_factor_disabled": "二段階認証の解除", "auth.password_changed": "パスワードの変更",
    "auth.password_reset": "パスワードの再設定（管理者）", "auth.user_disabled": "アカウントの無効化",
    "auth.user_enabled": "アカウントの有効化",
}

register_home_link("/audit", "監査ログ", "個人情報の閲覧・変更の記録（絞り込み、CSV）", tuple(AUDITORS.roles))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/audit")
def audit_page(
    request: Request, principal: Auditor, session: SessionDep,
    username: Annotated[str, Query(max_length=64)] = "", action: Annotated[str, Query(max_length=60)] = "",
    patient_id: Annotated[str, Query(max_length=12)] = "", since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "", page_no: Annotated[int, Query(ge=1, le=100000, alias="page")] = 1,
):
    first, last = _day(since), _day(until)
    errors = {k: "日付は 2026-04-01 の形で入力してください" for k, v, d in (("since", since, first), ("until", until, last)) if v and d is None}
    filters = service.AuditFilters(
        username=username.strip() or None, action=action or None,
        patient_id=int(patient_id) if patient_id.isdigit() else None,
        since=datetime.combine(first, time(), display_zone()) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), display_zone()) if last else None,
    )
    rows, total = service.list_events(session=session, principal=principal, filters=filters, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    service.record(session=session, principal=principal, action="audit.read", request=request)
    params = {"username": username, "action": action, "patient_id": patient_id, "since": since, "until": until}
    kept = {k: v for k, v in params.items() if v}
    api = {"username": filters.username, "action": filters.action, "patient_id": filters.patient_id,
           "since": filters.since.isoformat() if filters.since else None, "until": filters.until.isoformat() if filters.until else None}
    return page(
        "audit/index.html", principal, status_code=422 if errors else 200, rows=rows, total=total, params=params,
        errors=errors, actions=ACTIONS, page_no=page_no, pages=max(1, -(-total // PAGE_SIZE)),
        query=lambda n: urlencode(kept | {"page": n}), csv_query=urlencode({k: v for k, v in api.items() if v is not None}),
    )
