"""The audit log page: who read or changed which patients, when, from where, what changed; filters and CSV.

In Japanese throughout (``audit.display``); newest first, 100 a page, read by keyset (``before``: the
last id shown) so a page deep in a million events costs what the first does.

Same rule and list function as ``/api/v1/audit`` (admin and prefecture officers); opening the
page is itself recorded (``audit.read``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from bcp_service.audit import display, service
from bcp_service.audit.routes import AUDITORS
from bcp_service.auth.principal import Principal
from bcp_service.db import SessionDep
from bcp_service.page_helpers import page, register_home_link
from bcp_service.timeutil import display_zone
from bcp_service.typed_input import parse_date

router = APIRouter(include_in_schema=False)
Auditor = Annotated[Principal, Depends(AUDITORS)]
PAGE_SIZE = 100
COUNT_LIMIT = 1000  # counted up to here; beyond it the page says 「1000 件以上」 (a count is a scan)

register_home_link("/audit", "監査ログ", "個人情報の閲覧・変更の記録（絞り込み、CSV）", tuple(AUDITORS.roles))


def _day(text: str) -> date | None:
    try:
        return parse_date(text) if text else None  # 2024-01-05, R6/1/5, full-width digits
    except ValueError:
        return None


@router.get("/audit")
def audit_page(
    request: Request,
    principal: Auditor,
    session: SessionDep,
    username: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=60)] = "",
    patient_id: Annotated[str, Query(max_length=12)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[str, Query(max_length=12)] = "",
):
    first, last = _day(since), _day(until)
    errors = {
        k: "日付は 2026-04-01 の形で入力してください"
        for k, v, d in (("since", since, first), ("until", until, last))
        if v and d is None
    }
    patient = patient_id.strip()
    if patient and not patient.isdigit():
        errors["patient_id"] = "患者IDは数字で入力してください"
    filters = service.AuditFilters(
        username=username.strip() or None,
        action=action or None,
        patient_id=int(patient) if patient.isdigit() else None,
        since=datetime.combine(first, time(), display_zone()) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), display_zone()) if last else None,
    )
    cursor = int(before) if before.isdigit() else None
    rows, total = service.list_events(
        session=session,
        principal=principal,
        filters=filters,
        limit=PAGE_SIZE + 1,
        before=cursor,
        count_limit=COUNT_LIMIT + 1,
    )
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    service.record(session=session, principal=principal, action="audit.read", request=request)
    params = {"username": username, "action": action, "patient_id": patient_id, "since": since, "until": until}
    kept = {k: v for k, v in params.items() if v}
    api = {
        "username": filters.username,
        "action": filters.action,
        "patient_id": filters.patient_id,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
    }
    shown = [(e, ids, display.who(e), display.place(e), display.lines(e)) for e, ids in rows]
    return page(
        "audit/index.html",
        principal,
        status_code=422 if errors else 200,
        rows=shown,
        params=params,
        total=f"{COUNT_LIMIT} 件以上" if total > COUNT_LIMIT else f"{total} 件",
        errors=errors,
        actions=display.ACTIONS,
        action_label=display.action_label,
        first_page=cursor is None,
        first_query=urlencode(kept),
        next_query=urlencode(kept | {"before": rows[-1][0].id}) if more and rows else None,
        csv_query=urlencode({k: v for k, v in api.items() if v is not None}),
    )
