"""Backup, more activity, restore: counts and audit as backed up, nothing the provider took sent again, and the
round goes on where it stopped (issue 26 item 8, issue 28 item 3). On both engines (BCP_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import select

from bcp_service.answers.service import record_answer
from bcp_service.audit.service import record as audit
from bcp_service.models import AuditEvent, CheckAnswer, OutboxMessage, RoundRestore, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.ops.backup import BackupError, backup
from bcp_service.ops.restore import latest_restore
from bcp_service.ops.restore_command import RestoreRefused, run_restore
from bcp_service.outbox.worker import Worker
from bcp_service.twilio_sim import SimConfig, create_sim_app
from notifiers import TwilioNotifier
from notifiers.twilio_records import list_since
from tests.outbox.conftest import factory, fast_settings, seed_round, wait_for  # noqa: F401  (fixtures)

SIM = SimConfig(seed=3, callback_statuses=["sent", "delivered"])


def hold(factory, round_id, *, keep: int) -> None:
    """Only the first ``keep`` queued messages are due now: the round is sent in steps."""
    with factory() as session:
        ids = session.exec(
            select(OutboxMessage.id)
            .where(OutboxMessage.round_id == round_id, OutboxMessage.state == "queued")
            .order_by(OutboxMessage.id)
        ).all()
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[keep:]))
            .values(next_attempt_at=utcnow() + timedelta(days=1))
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[:keep]))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def counts(factory, round_id) -> dict:
    with factory() as session:
        states = dict(
            session.exec(
                select(OutboxMessage.state, func.count())
                .where(OutboxMessage.round_id == round_id)
                .group_by(OutboxMessage.state)
            ).all()
        )
        return {
            "answers": session.exec(select(func.count()).select_from(CheckAnswer)).one(),
            "audit": session.exec(select(func.count()).select_from(AuditEvent)).one(),
            **states,
        }


async def send_due(factory, settings, notifier, round_id, *, sent: int) -> None:
    """Run a worker until ``sent`` messages of the round have left (others are held for later)."""
    stop = asyncio.Event()
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings, status_callback=None)
    task = asyncio.create_task(worker.run(stop))

    def left() -> int:
        counted = counts(factory, round_id)
        return counted.get("sent", 0) + counted.get("delivered", 0)

    await wait_for(lambda: left() >= sent or task.done(), timeout=60, what=f"{sent} sent")
    stop.set()
    await asyncio.wait_for(task, 30)


def answer(factory, check_id) -> None:
    with factory() as session:
        record_answer(session=session, check_id=check_id, state="safe", channel="link")
        audit(session=session, principal=None, action="answer.test", detail="an answer")
        session.commit()


async def test_backup_activity_restore_and_the_round_goes_on(factory, fast_settings, tmp_path):
    settings = fast_settings.model_copy(update={"data_dir": tmp_path / "data"})
    sim_app = create_sim_app(SIM)
    transport = httpx.ASGITransport(app=sim_app)
    notifier = TwilioNotifier(
        SIM.account_sid, SIM.auth_token, from_number="BCPTEST", base_url="http://sim", transport=transport
    )
    round_id, _ = seed_round(factory, settings, patients=6)
    checks = [m.check_id for m in _messages(factory, round_id)]

    hold(factory, round_id, keep=2)
    await send_due(factory, settings, notifier, round_id, sent=2)  # two sent before the backup
    answer(factory, checks[0])
    before = counts(factory, round_id)
    assert before["sent"] == 2 and before["queued"] == 4 and before["answers"] == 1

    info = backup(factory().get_bind(), tmp_path / "bcp.backup")
    assert (tmp_path / "bcp.backup.json").is_file() and info.taken_at <= utcnow()
    with pytest.raises(BackupError):
        backup(factory().get_bind(), tmp_path / "bcp.backup")  # never overwrites

    hold(factory, round_id, keep=2)  # more activity: two more sent, one of them answered
    await send_due(factory, settings, notifier, round_id, sent=4)
    answer(factory, checks[2])
    after = counts(factory, round_id)
    assert after["sent"] == 4 and after["answers"] == 2 and after["audit"] > before["audit"]

    records = await list_since(
        SIM.account_sid, SIM.auth_token, since=info.taken_at, base_url="http://sim", transport=transport
    )
    assert len(records) >= 2  # what the provider took after the backup (to the second: its own second too)
    report = run_restore(settings, tmp_path / "bcp.backup", records=records)

    restored = counts(factory, round_id)
    # As backed up, with the two messages the provider already had recorded as sent (not queued again),
    # and one audit event for the restore itself.
    assert restored["answers"] == before["answers"]
    assert restored["audit"] == before["audit"] + 1
    assert restored["sent"] == 4 and restored["queued"] == 2
    assert report.suppressed == 2
    with factory() as session:
        marker = latest_restore(session, round_id)
        assert marker is not None and marker.suppressed == 2
        missing = {item["check_id"] for item in marker.possibly_missing}
        assert checks[2] in missing and checks[0] not in missing  # answered after the backup: lost, and said
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "db.restore")).one()
        assert session.get(SafetyCheck, checks[0]).state == "safe"

    hold(factory, round_id, keep=10)  # the round goes on where it stopped
    await send_due(factory, settings, notifier, round_id, sent=6)
    await asyncio.sleep(0.2)  # anything sent twice would have left by now
    final = counts(factory, round_id)
    assert final["sent"] + final.get("delivered", 0) == 6
    state = sim_app.state.sim
    outbound = [m for m in state.messages if m.get("direction", "outbound-api") != "inbound"]
    assert len(outbound) == 6 and len({m["to"] for m in outbound}) == 6  # nobody messaged twice
    await notifier.aclose()


def test_restore_refuses_without_its_record_or_with_a_worker_running(factory, settings, tmp_path):
    with pytest.raises(RestoreRefused):
        run_restore(settings, tmp_path / "missing.backup", records=[])
    from bcp_service.models import ServiceHeartbeat

    with factory() as session:
        now = utcnow()
        session.add(
            ServiceHeartbeat(instance_id="w", name="worker", host="h", process_id=1, started_at=now, beat_at=now)
        )
        session.commit()
    with pytest.raises(RestoreRefused, match="worker"):
        run_restore(settings, tmp_path / "missing.backup", records=[])


def _messages(factory, round_id):
    with factory() as session:
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id)
        ).all()


def test_restore_marker_model_is_in_the_metadata():
    assert RoundRestore.__tablename__ == "round_restore"
