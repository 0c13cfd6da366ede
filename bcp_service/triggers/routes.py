"""Triggers API: receive an outside event (system accounts), list decisions and pending starts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.audit.service import record as audit
from bcp_service.auth import wall
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.db import SessionDep
from bcp_service.errors import FieldError
from bcp_service.locking import take_write_lock
from bcp_service.models import Municipality, TriggerDecision, TriggerRecord, TriggerReport
from bcp_service.models.base import utcnow
from bcp_service.registry.schemas import Page
from bcp_service.triggers import service
from bcp_service.triggers.events import JsonTriggerEvent
from bcp_service.triggers.jma import MAX_BULLETIN_BYTES, JmaParseError
from bcp_service.triggers.schemas import REASON_CODES, DecisionPublic, RecordPublic

log = logging.getLogger("bcp_service.triggers")
router = APIRouter(prefix="/api/v1", tags=["triggers"])
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0)]
Sender = Annotated[Principal, Depends(Access(Role.system, Role.admin))]
Reader = Annotated[Principal, Depends(Access(Role.admin, Role.prefecture))]
XML_TYPES = ("application/xml", "text/xml")


def _inline_schema(model) -> dict:
    """The model's JSON schema with its $defs written in place (they would not resolve in OpenAPI)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_schema(JsonTriggerEvent)},
            "application/xml": {
                "schema": {
                    "type": "string",
                    "description": "気象庁防災情報XML: VXSE51/53, VPWW53/54, VXWW50, VTSE41/51",
                }
            },
            "text/xml": {"schema": {"type": "string"}},
        },
    }
}


def clock(request: Request):
    """Now, or the app's fake clock in tests (``app.state.clock``)."""
    return getattr(request.app.state, "clock", utcnow)()


def decision_public(
    decision: TriggerDecision, report: TriggerReport | None, record: TriggerRecord | None
) -> DecisionPublic:
    return DecisionPublic.model_validate(
        {
            **decision.model_dump(),
            "reason_title": REASON_CODES.get(decision.reason, service.MANUAL_CANCEL_JA),
            "source": report.source if report else None,
            "kind": report.kind if report else None,
            "status": report.status if report else None,
            "info_type": report.info_type if report else None,
            "title": report.title if report else (record.title if record else None),
            "hazard": report.hazard if report else (record.hazard if record else None),
            "record": RecordPublic.model_validate(record) if record else None,
        }
    )


async def _read_body(request: Request) -> tuple[str, bytes]:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json" and kind not in XML_TYPES:
        raise HTTPException(
            415,
            "application/json (JsonTriggerEvent) または application/xml (気象庁XML VXSE51/VXSE53) "
            "で送ってください (send application/json or application/xml)",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BULLETIN_BYTES:
        raise HTTPException(413, f"{MAX_BULLETIN_BYTES} バイトを超えています (body over {MAX_BULLETIN_BYTES} bytes)")
    body = await request.body()
    if len(body) > MAX_BULLETIN_BYTES:
        raise HTTPException(413, f"{MAX_BULLETIN_BYTES} バイトを超えています (body over {MAX_BULLETIN_BYTES} bytes)")
    return kind, body


@router.post("/triggers", response_model=DecisionPublic, openapi_extra=REQUEST_BODY)
async def post_trigger(request: Request, principal: Sender, session: SessionDep):
    """Receive an outside event: a plain JSON event, or a JMA bulletin as XML (earthquake VXSE51/VXSE53,
    weather warnings VPWW53/54, 土砂災害警戒情報 VXWW50, tsunami VTSE41/VTSE51).

    A weather bulletin carrying several hazards is decided per hazard; the answer is the most
    consequential decision (all are listed at /triggers/decisions).

    The guards decide at once and the decision is returned (and listed at /triggers/decisions);
    a round is only scheduled, ``not_before`` seconds ahead, so a correction or a cancellation
    (取消) can still change or stop it. Drill and test bulletins start nothing unless configured.
    """
    kind, body = await _read_body(request)
    settings = request.app.state.settings
    return await run_in_threadpool(_receive, request, principal, session, settings, kind, body)


def _receive(request: Request, principal: Principal, session: Session, settings, kind: str, body: bytes):
    take_write_lock(session)  # SQLite: decisions are serialised; wait for the lock rather than fail later
    known = service.list_municipality_codes(session=session)
    try:
        if kind in XML_TYPES:
            received = service.read_jma_reports(body, known=known, keep_raw=settings.trigger_keep_raw)
        else:
            received = [service.read_json_event(body, known=known, keep_raw=settings.trigger_keep_raw)]
    except JmaParseError as exc:
        log.warning("trigger.rejected", extra={"format": "jma_xml", "size": len(body)})
        raise FieldError(f"気象庁XMLとして読めません (not a usable JMA bulletin): {exc}") from None
    except ValidationError as exc:
        log.warning("trigger.rejected", extra={"format": "json", "size": len(body), "errors": exc.error_count()})
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False, include_input=False)]
        ) from None
    results = service.receive_all(
        session=session,
        received=received,
        settings=settings,
        now=clock(request),
        received_by=principal.username,
        received_by_user_id=principal.user_id,
    )
    audit(
        session=session,
        principal=principal,
        action="trigger.receive",
        request=request,
        detail="; ".join(f"event {d.event_id}: {d.action} ({d.reason})" for d, _ in results)[:1000],
    )
    decision, record = results[0]
    report = session.get(TriggerReport, decision.report_id)
    return decision_public(decision, report, record)


@router.get("/triggers/decisions", response_model=Page[DecisionPublic])
def get_decisions(
    principal: Reader,
    session: SessionDep,
    event_id: str | None = None,
    action: str | None = None,
    reason: str | None = None,
    drill: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """Every decision, newest first, with its reason: why a round was scheduled, changed, stopped, or not."""
    conditions = []
    if event_id:
        conditions.append(TriggerDecision.event_id == event_id)
    if action:
        conditions.append(TriggerDecision.action == action)
    if reason:
        conditions.append(TriggerDecision.reason == reason)
    if drill is not None:
        conditions.append(TriggerDecision.drill == drill)
    query = (
        select(TriggerDecision, TriggerReport, TriggerRecord)
        .outerjoin(TriggerReport, TriggerReport.id == TriggerDecision.report_id)
        .outerjoin(TriggerRecord, TriggerRecord.id == TriggerDecision.record_id)
        .where(*conditions)
        .order_by(col(TriggerDecision.id).desc())
    )
    seen = _seen_by(session, principal)
    if seen is None:
        total = session.exec(select(func.count()).select_from(TriggerDecision).where(*conditions)).one()
        rows = session.exec(query.limit(limit).offset(offset)).all()
    else:
        mine = [r for r in session.exec(query.limit(SCOPED_SCAN)).all() if seen([*r[0].municipalities, *r[0].excluded])]
        total, rows = len(mine), mine[offset : offset + limit]
    return Page(items=[decision_public(*row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/triggers/events", response_model=Page[RecordPublic])
def get_records(
    principal: Reader,
    session: SessionDep,
    state: str | None = None,
    event_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """Each event's round: pending (with its not_before), started (with its round), cancelled, failed, ignored."""
    conditions = []
    if state:
        conditions.append(TriggerRecord.state == state)
    if event_id:
        conditions.append(TriggerRecord.event_id == event_id)
    query = select(TriggerRecord).where(*conditions).order_by(col(TriggerRecord.id).desc())
    seen = _seen_by(session, principal)
    if seen is None:
        total = session.exec(select(func.count()).select_from(TriggerRecord).where(*conditions)).one()
        rows = session.exec(query.limit(limit).offset(offset)).all()
    else:
        mine = [r for r in session.exec(query.limit(SCOPED_SCAN)).all() if seen(r.municipalities)]
        total, rows = len(mine), mine[offset : offset + limit]
    return Page(items=[RecordPublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


# A prefecture officer reads the trigger records and decisions that name its own municipalities only (issue 23:
# another prefecture's quakes, rounds and excluded towns are not its business). Records are few (one per bulletin
# and event): the newest SCOPED_SCAN are read and filtered here, as their municipalities are a JSON list.
SCOPED_SCAN = 5000


def _seen_by(session: Session, principal: Principal) -> Callable[[Iterable[str]], bool] | None:
    """None for admin (everything); else whether a record naming these municipality codes is the caller's.
    A decision that names no municipality at all (a drill, a distant quake) tells nothing of anyone: shown."""
    home = wall.home_prefecture(session, principal)
    if home is None:
        return None
    ours = set(session.exec(select(Municipality.code).where(Municipality.prefecture_id == home)).all())

    def seen(codes: Iterable[str]) -> bool:
        named = list(codes)
        return not named or any(code in ours for code in named)

    return seen


@router.post("/triggers/events/{record_id}/cancel", response_model=DecisionPublic)
def post_cancel(record_id: int, request: Request, principal: Reader, session: SessionDep):
    """Stop a pending start by hand (a false alarm the feed never cancelled). 409 once it has started."""
    decision, record = service.cancel_pending_by_person(
        session=session, record_id=record_id, actor_name=principal.username, principal=principal, now=clock(request)
    )
    audit(
        session=session,
        principal=principal,
        action="trigger.cancel",
        request=request,
        detail=f"trigger record {record_id}",
    )
    return decision_public(decision, None, record)
