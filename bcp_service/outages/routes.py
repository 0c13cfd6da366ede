"""Outages API: a source posts its outage list (JSON or CSV); staff list the open outages."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlmodel import col, select

from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import FieldError
from bcp_service.locking import take_write_lock
from bcp_service.models import Municipality, PowerOutage
from bcp_service.outages import service
from bcp_service.outages.schemas import OutageBatch, OutagePublic, OutageSummary, read_csv
from bcp_service.triggers.routes import _inline_schema, clock

log = logging.getLogger("bcp_service.outages")
router = APIRouter(prefix="/api/v1", tags=["outages"])
Sender = Annotated[Principal, Depends(Access(Role.system, Role.admin))]
Reader = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture, Role.hub))]
MAX_BODY = 5 * 1024 * 1024


def _validation(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False, include_input=False)]
    )


@router.post(
    "/outages",
    response_model=OutageSummary,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_schema(OutageBatch)},
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "header: id,municipality,district,started_at,"
                        "expected_restoration_at,restored_at,households,planned",
                    }
                },
            },
        }
    },
)
async def post_outages(
    request: Request,
    principal: Sender,
    session: SessionDep,
    source: Annotated[str | None, Query(max_length=40, description="CSV only: the source name")] = None,
):
    """Store a source's outages (new, changed, restored), then judge the open ones by the round rule.

    Patients in a municipality with an open outage are "power out" on the board and in triage.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"{MAX_BODY} バイトを超えています (body over {MAX_BODY} bytes)")
    try:
        if kind == "application/json":
            batch = OutageBatch.model_validate_json(body)
        elif kind == "text/csv":
            if not source:
                raise FieldError(
                    "CSV では ?source= で送信元を指定してください (source is required for CSV)", field="source"
                )
            batch = read_csv(body.decode("utf-8"), source)
        else:
            raise HTTPException(415, "application/json または text/csv で送ってください (send JSON or CSV)")
    except ValidationError as exc:
        raise _validation(exc) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise FieldError(f"停電情報を読めません (unreadable outage list): {exc}", field="body") from None
    return await run_in_threadpool(_apply, session, batch, request.app.state.settings, clock(request), principal)


def _apply(session, batch: OutageBatch, settings, now, principal: Principal) -> OutageSummary:
    take_write_lock(session)
    username = principal.username
    summary = service.apply_outages(
        session=session, batch=batch, settings=settings, now=now, received_by=username, principal=principal
    )
    summary.decisions = service.judge_outages(session=session, settings=settings, now=now, received_by=username)
    return summary


@router.get("/outages", response_model=list[OutagePublic])
def get_outages(
    principal: Reader,
    session: SessionDep,
    include_restored: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
):
    """Outages, open ones first (newest first); no personal data."""
    query = select(PowerOutage, Municipality).join(Municipality, Municipality.id == PowerOutage.municipality_id)
    if not include_restored:
        query = query.where(col(PowerOutage.restored_at).is_(None))
    rows = session.exec(
        query.order_by(col(PowerOutage.restored_at).is_not(None), col(PowerOutage.started_at).desc()).limit(limit)
    ).all()
    return [
        OutagePublic(
            id=o.id,
            source=o.source,
            external_id=o.external_id,
            municipality_code=m.code,
            municipality_name=m.name,
            district=o.district,
            started_at=o.started_at,
            expected_restoration_at=o.expected_restoration_at,
            restored_at=o.restored_at,
            households=o.households,
            planned=o.planned,
        )
        for o, m in rows
    ]
