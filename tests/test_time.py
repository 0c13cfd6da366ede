"""One time type: instants stored in UTC and returned aware on both engines; the API carries offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlmodel import select

from bcp_service.models import AuditEvent
from bcp_service.templating import jst

TOKYO = timezone(timedelta(hours=9))


def test_an_instant_written_in_japan_time_reads_back_as_the_same_instant_in_utc(session):
    written = datetime(2026, 12, 2, 9, 30, tzinfo=TOKYO)
    session.add(AuditEvent(action="test.time", at=written))
    session.flush()
    session.expire_all()
    read = session.exec(select(AuditEvent).where(AuditEvent.action == "test.time")).one().at
    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)
    assert read == written and read.hour == 0
    # Naive values are UTC by convention; comparisons bind through the same type.
    assert session.exec(
        select(AuditEvent.id).where(AuditEvent.action == "test.time", AuditEvent.at >= datetime(2026, 12, 2, 0, 29))
    ).first()
    assert jst(read) == "2026-12-02 09:30"


def test_the_api_returns_offsets(client, session):
    client.get("/api/v1/patients")
    events = client.get("/api/v1/audit?limit=5").json()["items"]
    assert events and all(e["at"].endswith("Z") or e["at"].endswith("+00:00") for e in events)
    at = datetime.fromisoformat(events[0]["at"].replace("Z", "+00:00"))
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)
