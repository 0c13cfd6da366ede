"""Outages posted by a source: stored, exposed as a "power out" fact, and judged by the round rule.

The fact is per municipality (the finest unit every utility publishes): ``power_out_municipality_ids``
for Python callers, ``in_power_out_area(column)`` for queries (the board's ordering, triage).

Round rule: an open outage that has lasted, or is expected to last, ``outage_round_min_hours`` in a
municipality with an active ventilator user becomes a blackout event on the trigger decision path
(the same delay, merge and cancellation rules as a quake), at level 4; shorter ones at level 2,
which the default blackout threshold (4) records without starting anything. A planned shutoff
ahead (``planned`` with a future start) is not "power out" yet: it becomes an advance-notice event
(``planned_outage_event``) for the patients on devices there; once its start has passed it is a
current outage like any other.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.clock import aware, aware_or_none
from bcp_service.config import Settings
from bcp_service.models import Municipality, Patient, PowerOutage
from bcp_service.models.base import utcnow
from bcp_service.models.enums import PatientStatus, Therapy
from bcp_service.outages.schemas import OutageBatch, OutageSummary
from bcp_service.registry.patients import therapy_condition
from bcp_service.triggers import service as triggers
from bcp_service.triggers.events import EventStatus, Hazard, InfoType, TriggerEvent
from bcp_service.triggers.guards import NOTICE_PREFIX, is_notice

log = logging.getLogger("bcp_service.outages")
LONG_OUTAGE_LEVEL = 4
SHORT_OUTAGE_LEVEL = 2
NO_DEVICE_LEVEL = 1  # a planned shutoff where no patient on a listed device lives: below any notice threshold


def open_outages_query():
    return select(PowerOutage.municipality_id).where(col(PowerOutage.restored_at).is_(None))


def is_current(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the outage is on now: an unplanned one, or a planned shutoff whose start has passed."""
    return or_(col(PowerOutage.planned).is_(False), PowerOutage.started_at <= (now or utcnow()))


def in_power_out_area(municipality_column, now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the row's municipality has an open (unrestored), current outage from any source."""
    return col(municipality_column).in_(open_outages_query().where(is_current(now)).scalar_subquery())


def power_out_municipality_ids(*, session: Session, now: datetime | None = None) -> set[int]:
    return set(session.exec(open_outages_query().where(is_current(now))).all())


def apply_outages(
    *,
    session: Session,
    batch: OutageBatch,
    settings: Settings,
    now: datetime,
    received_by: str,
    principal: Principal | None = None,
) -> OutageSummary:
    """``principal``: a caller held to one prefecture (issue 23) finds only its own municipalities'
    codes; another prefecture's are listed as unmatched, like unknown codes."""
    inside = wall.municipality_condition(session, principal) if principal is not None else None
    codes = {
        m.code: m
        for m in session.exec(
            select(Municipality).where(
                col(Municipality.code).in_(sorted({i.municipality for i in batch.outages})),
                *([] if inside is None else [inside]),
            )
        ).all()
    }
    existing = {
        o.external_id: o
        for o in session.exec(
            select(PowerOutage).where(
                PowerOutage.source == batch.source, col(PowerOutage.external_id).in_([i.id for i in batch.outages])
            )
        ).all()
    }
    stored = restored = 0
    unmatched: list[str] = []
    for item in batch.outages:
        municipality = codes.get(item.municipality)
        if municipality is None:
            if item.municipality not in unmatched:
                unmatched.append(item.municipality)
            continue
        values = {
            "municipality_id": municipality.id,
            "district": item.district,
            "started_at": _utc(item.started_at),
            "expected_restoration_at": _utc(item.expected_restoration_at),
            "restored_at": _utc(item.restored_at),
            "households": item.households,
            "planned": item.planned,
        }
        row = existing.get(item.id)
        if row is None:
            row = PowerOutage(
                source=batch.source,
                external_id=item.id,
                received_at=now,
                updated_at=now,
                received_by_name=received_by[:100],
                **values,
            )
        else:
            current = {k: getattr(row, k) for k in values}
            current = {k: (aware_or_none(v) if isinstance(v, datetime) else v) for k, v in current.items()}
            if current == values:
                continue
            if row.restored_at is None and item.restored_at is not None:
                restored += 1
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            row.received_by_name = received_by[:100]
        stored += 1
        session.add(row)
    session.flush()
    dark = power_out_municipality_ids(session=session, now=now)
    open_count = session.exec(
        select(func.count())
        .select_from(PowerOutage)
        .where(PowerOutage.source == batch.source, col(PowerOutage.restored_at).is_(None))
    ).one()
    affected = (
        session.exec(
            select(func.count())
            .select_from(Patient)
            .where(
                col(Patient.municipality_id).in_(sorted(dark)),
                col(Patient.uses_ventilator).is_(True),
                Patient.status == PatientStatus.active,
            )
        ).one()
        if dark
        else 0
    )
    names = (
        dict(
            session.exec(select(Municipality.id, Municipality.code).where(col(Municipality.id).in_(sorted(dark)))).all()
        )
        if dark
        else {}
    )
    log.info(
        "outages.applied",
        extra={
            "source": batch.source,
            "stored": stored,
            "restored": restored,
            "open": open_count,
            "unmatched": len(unmatched),
        },
    )
    return OutageSummary(
        source=batch.source,
        stored=stored,
        open=open_count,
        restored=restored,
        unmatched_municipalities=unmatched,
        power_out_municipalities=sorted(names.values()),
        ventilator_users_affected=affected,
    )


def _utc(value: datetime | None) -> datetime | None:
    # SQLite keeps the wall time and drops the offset: store UTC, as every other time here.
    return None if value is None else value.astimezone(UTC)


def _open_outages(session: Session, *conditions) -> list:
    """(outage, municipality code) of the unrestored outages that meet ``conditions``, oldest first."""
    return list(
        session.exec(
            select(PowerOutage, Municipality.code)
            .join(Municipality, Municipality.id == PowerOutage.municipality_id)
            .where(col(PowerOutage.restored_at).is_(None), *conditions)
            .order_by(PowerOutage.id)
        ).all()
    )


def _areas_with_patients(session: Session, *conditions) -> set[int]:
    """Municipality ids where an active patient meeting ``conditions`` lives."""
    return set(
        session.exec(
            select(Patient.municipality_id).where(Patient.status == PatientStatus.active, *conditions).distinct()
        ).all()
    )


def outage_event(*, session: Session, settings: Settings, now: datetime) -> TriggerEvent | None:
    """The blackout event the open outages amount to now, or None when there are none."""
    rows = _open_outages(session, is_current(now))
    if not rows:
        return None
    ventilator_areas = _areas_with_patients(session, col(Patient.uses_ventilator).is_(True))
    long_enough = timedelta(hours=settings.outage_round_min_hours)
    severity: dict[str, int] = {}
    keys: list[str] = []
    for outage, code in rows:
        started = aware(outage.started_at)
        expected = aware_or_none(outage.expected_restoration_at)
        lasted = now - started
        ahead = (expected - started) if expected is not None else timedelta(0)
        qualifies = max(lasted, ahead) >= long_enough
        if settings.outage_round_ventilator_only and outage.municipality_id not in ventilator_areas:
            qualifies = False
        level = LONG_OUTAGE_LEVEL if qualifies else SHORT_OUTAGE_LEVEL
        severity[code] = max(severity.get(code, 0), level)
        if qualifies:
            keys.append(f"{outage.source}:{outage.external_id}:{started.isoformat()}")
    # The event is the set of long outages: the same set posted again is the same event.
    digest = hashlib.sha256("|".join(sorted(keys) or ["short"]).encode()).hexdigest()[:20]
    return TriggerEvent(
        source="outage",
        event_id=f"outage-{digest}",
        status=EventStatus.NORMAL,
        info_type=InfoType.ISSUE,
        hazard=Hazard.BLACKOUT,
        severity=max(severity.values()),
        municipality_severity=severity,
        reported_at=now,
        occurred_at=min(aware(o.started_at) for o, _ in rows),
        title="停電（電力会社の停電情報）",
    )


def planned_outage_event(*, session: Session, settings: Settings, now: datetime) -> TriggerEvent | None:
    """The advance-notice event the planned shutoffs ahead amount to, or None.

    A planned outage (``planned``) that has not started and starts within ``outage_notice_hours_ahead``
    counts in a municipality where an active patient on one of ``outage_notice_therapies`` lives: level 4
    when it is to last ``outage_round_min_hours``, else 2; elsewhere 1. The notice threshold for blackouts
    (``advance_notice_levels["blackout"]``, 2) decides; without that key the rule is off. The event id
    starts with ``notice:``, so the round is of kind advance_notice, for those patients only (runner).
    """
    if "blackout" not in settings.advance_notice_levels:
        return None
    rows = _open_outages(
        session,
        col(PowerOutage.planned).is_(True),
        PowerOutage.started_at > now,
        PowerOutage.started_at <= now + timedelta(hours=settings.outage_notice_hours_ahead),
    )
    if not rows:
        return None
    device_areas = _areas_with_patients(session, *notice_therapy_conditions(settings))
    long_enough = timedelta(hours=settings.outage_round_min_hours)
    severity: dict[str, int] = {}
    keys: list[str] = []
    for outage, code in rows:
        started = aware(outage.started_at)
        expected = aware_or_none(outage.expected_restoration_at)
        if outage.municipality_id in device_areas:
            level = (
                LONG_OUTAGE_LEVEL if expected is not None and expected - started >= long_enough else SHORT_OUTAGE_LEVEL
            )
            keys.append(f"{outage.source}:{outage.external_id}:{started.isoformat()}")
        else:
            level = NO_DEVICE_LEVEL
        severity[code] = max(severity.get(code, 0), level)
    # The same planned shutoffs posted again are the same event (a duplicate); a new one is a new event.
    digest = hashlib.sha256("|".join(sorted(keys) or ["none"]).encode()).hexdigest()[:20]
    return TriggerEvent(
        source="outage",
        event_id=f"{NOTICE_PREFIX}outage-planned-{digest}",
        status=EventStatus.NORMAL,
        info_type=InfoType.ISSUE,
        hazard=Hazard.BLACKOUT,
        severity=max(severity.values()),
        municipality_severity=severity,
        reported_at=now,
        occurred_at=min(aware(o.started_at) for o, _ in rows),
        title="【事前連絡】計画停電（電力会社の停電情報）",
    )


def notice_therapy_conditions(settings: Settings) -> list[ColumnElement[bool]]:
    """Patients a planned shutoff's notice is for (``outage_notice_therapies``; empty: every patient)."""
    therapies = settings.outage_notice_therapies
    return [or_(*(therapy_condition(Therapy(t)) for t in therapies))] if therapies else []


def judge_outages(*, session: Session, settings: Settings, now: datetime, received_by: str) -> list[dict]:
    """Hand the open outages to the trigger decision path; returns the decisions made.

    Current outages are one blackout event (a safety check by rule); planned shutoffs ahead another,
    an advance notice (``planned_outage_event``)."""
    decisions = []
    for event in (
        outage_event(session=session, settings=settings, now=now),
        planned_outage_event(session=session, settings=settings, now=now),
    ):
        if event is None:
            continue
        received = triggers.Received(event=event, kind="outage", digest=event.event_id[-20:], size=0, raw=None)
        decision, record = triggers.receive_event(
            session=session, received=received, settings=settings, now=now, received_by=received_by
        )
        decisions.append(
            {
                "action": decision.action,
                "reason": decision.reason,
                "reason_ja": decision.reason_ja,
                "municipalities": decision.municipalities,
                "record_id": record.id if record else None,
                "advance_notice": is_notice(event.event_id),
            }
        )
    return decisions
