"""Quiet, bounded failure paths (issue 28.4): reconciliation that gives up and never blocks, a stop
bounded whatever the provider does, early statuses that expire, fault logs with counts."""

import asyncio
import logging
import time
from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import select

from bcp_service.models import EarlyStatus, OutboxMessage, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import apply_status, purge_early_statuses
from bcp_service.outbox.reconcile import reconcile
from bcp_service.outbox.worker import Worker
from bcp_service.ratelog import RepeatLog
from notifiers import FakeNotifier, PermanentSendError, TransientSendError
from tests.outbox.conftest import SlowNotifier, seed_round, wait_for


def messages_of(factory, round_id):
    with factory() as session:
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id)
        ).all()


class Unknown(FakeNotifier):
    """A provider that no longer knows some messages (404, Twilio 20404)."""

    def __init__(self, unknown=(), unreachable=()) -> None:
        super().__init__()
        self.unknown, self.unreachable = set(unknown), set(unreachable)

    async def fetch_status(self, provider_id):
        if provider_id in self.unknown:
            self.fetched.append(provider_id)
            raise PermanentSendError("twilio error 20404 (HTTP 404)", code="20404")
        if provider_id in self.unreachable:
            self.fetched.append(provider_id)
            raise TransientSendError("twilio timeout (ConnectTimeout)")
        return await super().fetch_status(provider_id)


def _age(factory, ids, minutes=20):
    with factory() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(status_at=utcnow() - timedelta(minutes=minutes))
        )
        session.commit()


async def test_a_404_is_given_up_after_the_bounded_tries_and_never_blocks_the_rest(factory, fast_settings, caplog):
    round_id, _ = seed_round(factory, fast_settings, patients=6)
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=FakeNotifier(), settings=fast_settings).run(exit_when_idle=True), 30
    )
    rows = messages_of(factory, round_id)
    gone, slow, fine = rows[:3], rows[3], rows[4:]
    notifier = Unknown(unknown={m.provider_message_id for m in gone}, unreachable={slow.provider_message_id})
    _age(factory, [m.id for m in rows])
    older = timedelta(minutes=10)
    caplog.set_level(logging.INFO, logger="bcp_service.outbox")
    # A pass as small as the failures: failed fetches go to the back, so the next pass reaches the rest.
    first = await reconcile(factory, notifier, older_than=older, limit=4, max_misses=3)
    assert first["fetch_failed"] == 4 and first["applied"] == 0
    second = await reconcile(factory, notifier, older_than=older, limit=4, max_misses=3)
    assert second["applied"] == 2 and {m.id for m in messages_of(factory, round_id) if m.state == "delivered"} == {
        m.id for m in fine
    }
    # One line per pass, with the counts: never a line (or a traceback) per message.
    lines = [r for r in caplog.records if r.message.startswith("outbox.reconcile")]
    assert len(lines) == 2 and lines[0].fetch_codes == {"20404": 3, "TransientSendError": 1}
    assert not any(r.exc_info for r in caplog.records)
    # Tried again one period later; the third "not found" gives up with a clear final code.
    for tries in (2, 3):
        _age(factory, [m.id for m in gone] + [slow.id])
        stats = await reconcile(factory, notifier, older_than=older, limit=10, max_misses=3)
        assert stats["gave_up"] == (3 if tries == 3 else 0)
    after = {m.id: m for m in messages_of(factory, round_id)}
    assert all((after[m.id].state, after[m.id].last_error_code) == ("failed", "status_unknown") for m in gone)
    assert after[slow.id].state == "sent"  # unreachable is not "unknown": asked again, never given up
    with factory() as session:  # nothing else to try for those patients: a person sees them
        states = {c.id: c.state for c in session.exec(select(SafetyCheck)).all()}
    assert all(states[m.check_id] == "delivery_failed" for m in gone)
    _age(factory, [m.id for m in gone] + [slow.id])  # given up: never asked again; only the unreachable one is
    assert (await reconcile(factory, notifier, older_than=older, max_misses=3))["fetch_failed"] == 1
    assert notifier.fetched.count(gone[0].provider_message_id) == 3


async def test_a_stop_ends_the_worker_within_its_lease_while_the_provider_hangs(factory, fast_settings):
    settings = fast_settings.model_copy(
        update={"send_stop_wait_seconds": 0.5, "send_reclaim_after_seconds": 4.0, "send_timeout_seconds": 600}
    )
    round_id, _ = seed_round(factory, settings, patients=8)
    notifier = SlowNotifier()
    notifier.delay = 3600  # unreachable: the request never comes back
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings, concurrency=2, batch_size=4)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await wait_for(lambda: worker._in_flight == 2, what="two sends in flight")
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < settings.send_reclaim_after_seconds
    rows = messages_of(factory, round_id)
    # Nothing left "sending" for a reclaim: the cut sends are queued again, their attempt kept (so the
    # next try looks them up at the provider first), the unsent ones released untouched.
    assert {m.state for m in rows} == {"queued"}
    assert sorted(m.attempts for m in rows) == [0] * 6 + [1, 1]
    assert sorted(m.last_error_code or "" for m in rows)[-2:] == ["stopped", "stopped"]
    assert worker.stats["cut_in_flight"] == 2


async def test_a_stop_is_not_held_by_a_throttle_pause(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_stop_wait_seconds": 0.5, "send_reclaim_after_seconds": 4.0})
    seed_round(factory, settings, patients=1)
    worker = Worker(session_factory=factory, notifier=FakeNotifier(), settings=settings)
    worker._pause_until = asyncio.get_running_loop().time() + 30  # a 429 said "come back in 30 s"
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 2


def test_early_statuses_are_cleaned_once_matched_or_expired(factory, fast_settings):
    with factory() as session:
        assert apply_status(session, provider_id="SMold", status="delivered", error_code=None) == "early"
        assert apply_status(session, provider_id="SMnew", status="delivered", error_code=None) == "early"
        session.execute(
            update(EarlyStatus)
            .where(EarlyStatus.provider_message_id == "SMold")
            .values(received_at=utcnow() - timedelta(hours=2))
        )
        session.commit()
    with factory() as session:
        assert purge_early_statuses(session, older_than=timedelta(minutes=60)) == 1
        session.commit()
    with factory() as session:
        assert session.exec(select(EarlyStatus.provider_message_id)).all() == ["SMnew"]


async def test_the_worker_cleans_early_statuses_in_its_maintenance(factory, fast_settings):
    settings = fast_settings.model_copy(update={"early_status_max_age_minutes": 1.0})
    round_id, _ = seed_round(factory, settings, patients=2)
    with factory() as session:
        apply_status(session, provider_id="SMstray", status="delivered", error_code=None)
        session.execute(update(EarlyStatus).values(received_at=utcnow() - timedelta(minutes=5)))
        session.commit()
    worker = Worker(session_factory=factory, notifier=FakeNotifier(), settings=settings)
    await asyncio.wait_for(worker.run(exit_when_idle=True), 30)
    sent = messages_of(factory, round_id)[0]
    with factory() as session:  # a matched one is folded and deleted
        apply_status(session, provider_id=sent.provider_message_id + "x", status="sent", error_code=None)
        session.commit()
    await asyncio.to_thread(worker._maintain)
    with factory() as session:
        left = session.exec(select(EarlyStatus.provider_message_id)).all()
        assert left == [sent.provider_message_id + "x"]  # young and unmatched: kept for now
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2


def test_a_thousand_identical_failures_make_a_few_lines_with_the_count(caplog):
    now = [0.0]
    quiet = RepeatLog(logging.getLogger("bcp_service.test_quiet"), interval=60, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="bcp_service.test_quiet")
    error = OSError("No space left on device")
    for n in range(1000):
        now[0] = n * 0.05  # 1,000 requests within 50 s: one interval
        quiet.warning("group_commit.item_failed", cause="answers:OperationalError", exc_info=error)
    quiet.warning("group_commit.item_failed", cause="answers:IntegrityError")  # another cause: its own line
    assert len(caplog.records) == 2 and caplog.records[0].exc_info is not None
    now[0] = 61.0
    quiet.warning("group_commit.item_failed", cause="answers:OperationalError")
    assert len(caplog.records) == 3 and caplog.records[2].repeated == 999
    quiet.warning("group_commit.item_failed", cause="answers:OperationalError")
    assert quiet.flush() == 1 and caplog.records[-1].repeated == 1


async def test_the_simulators_404_counts_as_not_found_and_logs_no_error(factory, fast_settings, caplog):
    from bcp_service.twilio_sim import start_sim_in_thread
    from notifiers import TimedNotifier, TwilioNotifier

    round_id, _ = seed_round(factory, fast_settings, patients=2)
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=FakeNotifier(), settings=fast_settings).run(exit_when_idle=True), 30
    )
    _age(factory, [m.id for m in messages_of(factory, round_id)])  # sids the simulator never saw: 404 (20404)
    sim = start_sim_in_thread()
    notifier = TimedNotifier(
        TwilioNotifier(sim.account_sid, sim.auth_token, from_number="BCPTEST", base_url=sim.base_url, timeout=2)
    )
    caplog.set_level(logging.INFO)
    try:
        stats = await reconcile(factory, notifier, older_than=timedelta(minutes=10), max_misses=1)
    finally:
        await notifier.aclose()
        sim.stop()
    assert stats["fetch_failed"] == 2 and stats["gave_up"] == 2
    assert {(m.state, m.last_error_code) for m in messages_of(factory, round_id)} == {("failed", "status_unknown")}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
