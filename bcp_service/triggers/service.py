"""Receiving an outside event: read it, decide with the guards, record the decision.

Nothing is sent here. A ``schedule_round`` decision leaves a pending record that the runner
(``triggers.runner``, in the scheduler process) turns into a round once ``not_before`` has passed,
unless a correction or cancellation changed it first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists
from sqlmodel import Session, col, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.config import Settings
from bcp_service.errors import Conflict, NotFound
from bcp_service.models import Municipality, Patient, TriggerDecision, TriggerRecord, TriggerReport
from bcp_service.models.enums import PatientStatus
from bcp_service.triggers import store
from bcp_service.triggers.events import (
    InfoType,
    JsonTriggerEvent,
    TriggerEvent,
    trigger_event_from_jma,
    trigger_event_from_json,
)
from bcp_service.triggers.guards import NOTICE_PREFIX, decide, is_notice
from bcp_service.triggers.jma import JmaParseError, control_title_of, parse_jma_bulletin, read_report_root
from bcp_service.triggers.jma_warnings import hazard_events, is_hazard_bulletin, parse_hazard_bulletin
from bcp_service.triggers.schemas import Decision, GuardConfig

log = logging.getLogger("bcp_service.triggers")
MAX_ATTEMPTS = 3
MANUAL_CANCEL = "cancelled_by_person"
MANUAL_CANCEL_JA = "担当者が送信前に中止"


@dataclass(frozen=True)
class Received:
    """An event as read from the request, with what the report row keeps about the bytes."""

    event: TriggerEvent
    kind: str
    digest: str
    size: int
    raw: str | None
    unmatched_codes: tuple[str, ...] = ()


def build_guard_config(settings: Settings, *, notice: bool = False) -> GuardConfig:
    levels = settings.advance_notice_levels if notice else settings.trigger_hazard_levels
    return GuardConfig(
        min_intensity=settings.trigger_min_intensity,
        min_level=settings.trigger_min_level,
        hazard_levels=levels,
        delay_seconds=settings.trigger_delay_seconds,
        aftershock_window_hours=settings.trigger_aftershock_window_hours,
        max_event_age_hours=settings.trigger_max_event_age_hours,
        accept_drill=settings.trigger_accept_drill,
        accept_test=settings.trigger_accept_test,
    )


def list_municipality_codes(*, session: Session) -> set[str]:
    return set(session.exec(select(Municipality.code)).all())


def find_municipalities_with_patients(*, session: Session, codes: Collection[str]) -> set[str]:
    if not codes:
        return set()
    has_patients = exists().where(Patient.municipality_id == Municipality.id, Patient.status == PatientStatus.active)
    return set(
        session.exec(select(Municipality.code).where(col(Municipality.code).in_(sorted(codes)), has_patients)).all()
    )


def read_json_event(body: bytes, *, known: Collection[str], keep_raw: bool) -> Received:
    """Raises pydantic's ValidationError for a body that is not a valid JsonTriggerEvent."""
    parsed = JsonTriggerEvent.model_validate_json(body)
    unmatched = tuple(code for code in parsed.municipalities if code not in known)
    return Received(
        trigger_event_from_json(parsed),
        "json",
        _digest(body),
        len(body),
        body.decode("utf-8", "replace") if keep_raw else None,
        unmatched,
    )


def read_jma_bulletin(body: bytes, *, known: Collection[str], keep_raw: bool) -> Received:
    """Raises JmaParseError for anything but a usable VXSE51/VXSE53 bulletin."""
    bulletin = parse_jma_bulletin(body)
    event = trigger_event_from_jma(bulletin, known_municipalities=known)
    return Received(
        event,
        bulletin.kind,
        _digest(body),
        len(body),
        body.decode("utf-8", "replace") if keep_raw else None,
        event.unmatched_codes,
    )


def read_jma_reports(body: bytes, *, known: Collection[str], keep_raw: bool) -> list[Received]:
    """Any bulletin that can start a round: earthquake, weather warning, 土砂災害警戒情報 or tsunami.

    A weather bulletin gives one event per hazard it carries. Raises JmaParseError otherwise.
    """
    root = read_report_root(body)
    title = control_title_of(root)
    if not is_hazard_bulletin(title):
        try:
            bulletin = parse_jma_bulletin(root)
        except JmaParseError as exc:
            if str(exc).startswith("unsupported bulletin type"):
                raise JmaParseError(
                    f"{exc}; also accepted: weather warnings (VPWW53/54), 土砂災害警戒情報 "
                    "(VXWW50), tsunami (VTSE41/VTSE51)"
                ) from None
            raise
        event = trigger_event_from_jma(bulletin, known_municipalities=known)
        return [
            Received(
                event,
                bulletin.kind,
                _digest(body),
                len(body),
                body.decode("utf-8", "replace") if keep_raw else None,
                event.unmatched_codes,
            )
        ]
    hazard = parse_hazard_bulletin(root)
    raw = body.decode("utf-8", "replace") if keep_raw else None
    return [
        Received(event, hazard.kind, _digest(body), len(body), raw, event.unmatched_codes)
        for event in hazard_events(hazard, known_municipalities=known)
    ]


def notice_event(item: Received, settings: Settings, *, exclude: Collection[str] = ()) -> Received | None:
    """The advisory stage of a warning bulletin (e.g. 大雨注意報) as an advance-notice event.

    Municipalities at ``advance_notice_levels[hazard]`` or above but below the round threshold get
    a round of kind advance_notice; those at the threshold (of any hazard in the same bulletin:
    ``exclude``) get the safety check instead.
    """
    event = item.event
    notice_level = settings.advance_notice_levels.get(event.hazard.value)
    if notice_level is None or event.source != "jma_xml" or event.info_type is not InfoType.ISSUE:
        return None
    threshold = settings.trigger_hazard_levels.get(event.hazard.value, settings.trigger_min_level)
    levels = {
        code: rank
        for code, rank in event.municipality_severity.items()
        if notice_level <= rank < threshold and code not in exclude
    }
    if not levels:
        return None
    notice = event.model_copy(
        update={
            "event_id": (NOTICE_PREFIX + event.event_id)[:64],
            "municipality_severity": levels,
            "severity": max(levels.values()),
            "title": f"【事前連絡】{event.title}"[:200],
        }
    )
    return Received(notice, item.kind, item.digest, item.size, None, ())


_ACTION_WEIGHT = {"schedule_round": 3, "update_pending": 2, "cancel_pending": 1, "ignore": 0}


def receive_all(
    *,
    session: Session,
    received: list[Received],
    settings: Settings,
    now: datetime,
    received_by: str,
    received_by_user_id: int | None = None,
) -> list[tuple[TriggerDecision, TriggerRecord | None]]:
    """Decide on every event of one bulletin; the most consequential decision comes first."""
    checked = {
        code
        for item in received
        for code, rank in item.event.municipality_severity.items()
        if rank >= settings.trigger_hazard_levels.get(item.event.hazard.value, settings.trigger_min_level)
    }
    notices = [notice for item in received if (notice := notice_event(item, settings, exclude=checked)) is not None]
    results = [
        receive_event(
            session=session,
            received=item,
            settings=settings,
            now=now,
            received_by=received_by,
            received_by_user_id=received_by_user_id,
        )
        for item in [*received, *notices]
    ]
    return sorted(results, key=lambda pair: -_ACTION_WEIGHT.get(pair[0].action, 0))


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def receive_event(
    *,
    session: Session,
    received: Received,
    settings: Settings,
    now: datetime,
    received_by: str,
    received_by_user_id: int | None = None,
) -> tuple[TriggerDecision, TriggerRecord | None]:
    """Record the report and the guards' decision on it, in the caller's transaction."""
    event = received.event
    report = TriggerReport(
        source=event.source,
        kind=received.kind,
        event_id=event.event_id,
        status=event.status.value,
        info_type=event.info_type.value,
        hazard=event.hazard.value,
        severity=event.severity,
        municipality_severity=dict(event.municipality_severity),
        unmatched_codes=list(received.unmatched_codes),
        title=event.title[:200],
        reported_at=event.reported_at,
        received_at=now,
        received_by_user_id=received_by_user_id,
        received_by_name=received_by[:100],
        digest=received.digest,
        size=received.size,
        raw=received.raw,
    )
    session.add(report)
    session.flush()  # the write comes first: on SQLite it takes the lock before anything is read
    store.lock_decisions(session)
    config = build_guard_config(settings, notice=is_notice(event.event_id))
    with_patients = find_municipalities_with_patients(session=session, codes=event.municipality_severity.keys())
    for attempt in range(1, MAX_ATTEMPTS + 1):
        records = store.load_records(
            session=session, event_id=event.event_id, window_hours=config.aftershock_window_hours, now=now
        )
        decision = decide(
            event,
            config=config,
            municipalities_with_patients=with_patients,
            prior=[store.to_prior(r) for r in records.values()],
            now=now,
        )
        try:
            with session.begin_nested():
                record = store.save_decision(session=session, records=records, event=event, decision=decision, now=now)
            break
        except store.StaleRecord:
            # The runner started the pending round while we decided: decide again on what is now true.
            log.info("trigger.redecide", extra={"event_id": event.event_id, "attempt": attempt})
            if attempt == MAX_ATTEMPTS:
                raise
    row = _decision_row(decision, report_id=report.id, record_id=record.id if record else None)
    session.add(row)
    session.flush()
    log.info(
        "trigger.decided",
        extra={
            "event_id": event.event_id,
            "decision_id": row.id,
            "report_id": report.id,
            "record_id": row.record_id,
            "action": decision.action,
            "reason": decision.reason,
            "drill": decision.drill,
            "source": event.source,
            "municipalities": len(decision.municipalities),
        },
    )
    return row, record


def _decision_row(decision: Decision, *, report_id: int | None, record_id: int | None) -> TriggerDecision:
    return TriggerDecision(
        report_id=report_id,
        record_id=record_id,
        event_id=decision.event_id,
        action=decision.action,
        reason=decision.reason,
        reason_ja=decision.reason_ja[:1000],
        drill=decision.drill,
        municipalities=list(decision.municipalities),
        severity=decision.severity,
        excluded=dict(decision.excluded),
        not_before=decision.not_before,
        decided_at=decision.decided_at,
    )


def cancel_pending_by_person(
    *,
    session: Session,
    record_id: int,
    actor_name: str,
    now: datetime,
    principal: Principal | None = None,
) -> tuple[TriggerDecision, TriggerRecord]:
    """A person stops a pending start (a false alarm the feed never cancelled); recorded as a decision.

    A prefecture officer may stop only a start wholly inside its prefecture (issue 23); any other is
    "not found", as if it did not exist."""
    record = session.get(TriggerRecord, record_id)
    if record is None or (
        principal is not None
        and not wall.allowed(session, principal, municipality_codes=list(record.municipalities) or [None])
    ):
        raise NotFound("トリガーの記録が見つかりません (trigger record not found)")
    if not store.cancel_record(session=session, record_id=record_id, by=actor_name, now=now):
        raise Conflict(f"送信待ちではありません (the record is {record.state}, not pending)")
    session.refresh(record)
    row = TriggerDecision(
        report_id=None,
        record_id=record.id,
        event_id=record.event_id,
        action="cancel_pending",
        reason=MANUAL_CANCEL,
        reason_ja=MANUAL_CANCEL_JA,
        drill=record.drill,
        municipalities=list(record.municipalities),
        severity=record.max_severity,
        excluded={},
        not_before=None,
        decided_at=now,
    )
    session.add(row)
    session.flush()
    log.info(
        "trigger.cancelled_by_person",
        extra={"event_id": record.event_id, "record_id": record.id, "decision_id": row.id},
    )
    return row, record
