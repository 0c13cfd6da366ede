"""Recording and querying the audit log of personal-data access."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from bcp_service import db_outage
from bcp_service.audit import chain, deferred
from bcp_service.audit.scope import event_conditions, patient_filter_condition, visible_patients
from bcp_service.auth.principal import Principal
from bcp_service.auth.throttle import client_address
from bcp_service.models import AuditEvent, AuditEventPatient


def record(
    *,
    session: Session,
    principal: Principal | None,
    action: str,
    patient_ids: Iterable[int] = (),
    request: Request | None = None,
    resource: str | None = None,
    detail: str | None = None,
    changes: list[dict] | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction: if the read fails, so does its record.

    ``changes`` (``audit.changes.diff``) says what an update changed. The row is chained (``chain.append``).
    """
    ids = sorted(set(patient_ids))
    if resource is None and request is not None:
        route = request.scope.get("route")
        resource = f"{request.method} {getattr(route, 'path', request.url.path)}"
    event = AuditEvent(
        user_id=principal.user_id if principal else None,
        username=principal.username if principal else None,
        role=str(principal.role) if principal else None,
        action=action,
        resource=resource,
        patient_count=len(ids),
        address=client_address(request),
        detail=detail,
        changes=changes or None,
    )
    row = event.model_dump(exclude={"id", "chain_hash"})
    try:
        with session.begin_nested():  # a refused insert must not abort the page's own transaction
            (event.id,) = chain.append(session, [row], [ids])
    except DBAPIError as exc:
        # The database refuses writes (issue 28.2): a page that only reads (GET) keeps the row for the chain
        # and says so; a write, a bug, or no place to keep the row fails as before.
        if (
            request is None
            or request.method not in ("GET", "HEAD")
            or not refuses_writes(exc)
            or not deferred.keep(row, ids)
        ):
            raise
        db_outage.write_refused()
        if exc.connection_invalidated:  # SQLite read-only or full (db.py): the page reads on a fresh connection
            session.rollback()
    return event


# PostgreSQL refusing writes rather than failing: a read-only transaction (a standby after a failover),
# insufficient resources (disk full, out of memory). Waiting fixes them, as it fixes an outage.
REFUSING_WRITES = ("25006", "53100", "53200", "53300")


def refuses_writes(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return db_outage.is_outage(exc) or code in REFUSING_WRITES


@dataclass
class AuditFilters:
    user_id: int | None = None
    username: str | None = None
    action: str | None = None
    patient_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(filters: AuditFilters, principal: Principal) -> list:
    conditions = event_conditions(principal)
    if filters.user_id is not None:
        conditions.append(AuditEvent.user_id == filters.user_id)
    if filters.username:
        conditions.append(AuditEvent.username == filters.username)
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    if filters.patient_id is not None:
        touched = select(AuditEventPatient.event_id).where(AuditEventPatient.patient_id == filters.patient_id)
        conditions.append(col(AuditEvent.id).in_(touched))
        conditions += patient_filter_condition(principal, filters.patient_id)
    if filters.since:
        conditions.append(AuditEvent.at >= filters.since)
    if filters.until:
        conditions.append(AuditEvent.at < filters.until)
    return conditions


def list_events(
    *,
    session: Session,
    principal: Principal,
    filters: AuditFilters,
    limit: int = 100,
    offset: int = 0,
    before: int | None = None,
    count_limit: int | None = None,
) -> tuple[list[tuple[AuditEvent, list[int]]], int]:
    """Events the reader may see (``audit.scope``), newest first, each with its visible patient ids.

    ``before`` reads the page after the event with that id (keyset: one index range, however deep the
    page), ``count_limit`` stops counting there (the page says "N 件以上").
    """
    conditions = _conditions(filters, principal)
    counted = select(AuditEvent.id).where(*conditions)
    if count_limit is not None:
        counted = counted.limit(count_limit)
    total = session.exec(select(func.count()).select_from(counted.subquery())).one()
    query = select(AuditEvent).where(*conditions)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    events = session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit).offset(offset)).all()
    ids = patient_ids_of_events(session, [e.id for e in events], principal)
    return [(e, ids.get(e.id, [])) for e in events], total


def iter_events(*, session: Session, principal: Principal, filters: AuditFilters, batch: int = 1000):
    last_id = None
    while True:
        query = (
            select(AuditEvent).where(*_conditions(filters, principal)).order_by(col(AuditEvent.id).desc()).limit(batch)
        )
        if last_id is not None:
            query = query.where(AuditEvent.id < last_id)
        rows = session.exec(query).all()
        if not rows:
            return
        ids = patient_ids_of_events(session, [e.id for e in rows], principal)
        for event in rows:
            yield event, ids.get(event.id, [])
        last_id = rows[-1].id


def patient_ids_of_events(session: Session, event_ids: list[int | None], principal: Principal) -> dict[int, list[int]]:
    """The visible patient ids of each event, in one query for a page of events."""
    if not event_ids:
        return {}
    query = select(AuditEventPatient.event_id, AuditEventPatient.patient_id).where(
        col(AuditEventPatient.event_id).in_(event_ids)
    )
    visible = visible_patients(principal)
    if visible is not None:
        query = query.where(col(AuditEventPatient.patient_id).in_(visible))
    found: dict[int, list[int]] = {}
    for event_id, patient_id in session.exec(
        query.order_by(AuditEventPatient.event_id, AuditEventPatient.patient_id)
    ).all():
        found.setdefault(event_id, []).append(patient_id)
    return found
