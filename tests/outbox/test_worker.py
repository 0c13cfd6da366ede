import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from bcp_service.models import OutboxMessage, PatientContact, SafetyCheck, ServiceHeartbeat
from bcp_service.outbox import claims
from bcp_service.outbox.worker import Worker
from bcp_service.rounds.counters import read_counters, recount
from notifiers import FakeNotifier, PermanentSendError, TransientSendError
from tests.outbox.conftest import SlowNotifier, seed_round, wait_for


def messages_of(factory, round_id):
    with factory() as session:
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id)
        ).all()


def checks_of(factory, round_id):
    with factory() as session:
        return {c.id: c for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == round_id))}


async def run(factory, settings, notifier, **kwargs):
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings, **kwargs)
    return await asyncio.wait_for(worker.run(exit_when_idle=True), timeout=30)


async def test_sends_everything_critical_first_and_records_provider_ids(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=6, drill=True)
    with factory() as session:  # make one patient critical: its message must go first
        first = session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id.desc())
        ).first()
        first.priority = 0
        session.add(first)
        session.commit()
    notifier = FakeNotifier()
    stats = await run(factory, fast_settings, notifier, concurrency=1)
    assert stats["sent"] == 6
    assert notifier.sent[0].to == first.to_number
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"}
    assert {m.provider_message_id for m in rows} == {s.provider_id for s in notifier.sent}
    assert all(m.answer_token is None and m.answer_token_hash for m in rows)
    for sent in notifier.sent:
        assert sent.body.startswith("【千葉県】【訓練】") and "http://testserver/a/" in sent.body


async def test_transient_errors_are_retried_then_sent(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=3)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("boom", code="20500"), times=4)
    stats = await run(factory, fast_settings, notifier)
    assert stats["sent"] == 3 and stats["retry"] == 4
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"}
    assert sum(m.attempts for m in rows) == 7


async def test_429_does_not_use_up_attempts(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_max_attempts": 1})
    round_id, _ = seed_round(factory, settings, patients=2)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("slow down", code="20429", retry_after=0.01), times=6)
    stats = await run(factory, settings, notifier)
    assert stats["sent"] == 2 and stats["throttled"] == 6
    rows = messages_of(factory, round_id)
    assert [m.attempts for m in rows] == [1, 1]
    assert sum(m.throttled for m in rows) == 6


async def test_exhausted_retries_end_failed_and_flag_the_check(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_max_attempts": 3})
    round_id, _ = seed_round(factory, settings, patients=1)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("down", code="20500"), times=10)
    await run(factory, settings, notifier)
    (message,) = messages_of(factory, round_id)
    assert (message.state, message.attempts, message.last_error_code) == ("failed", 3, "20500")
    (check,) = checks_of(factory, round_id).values()
    assert check.state == "delivery_failed"
    with factory() as session:
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)


async def test_bad_number_marks_contact_and_moves_to_the_next_contact(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=2, phones_each=2)
    first = messages_of(factory, round_id)[0]
    notifier = FakeNotifier()
    notifier.fail_for(first.to_number, PermanentSendError("invalid", code="21211", bad_contact=True))
    await run(factory, fast_settings, notifier)
    rows = messages_of(factory, round_id)
    assert len(rows) == 3
    assert rows[0].state == "failed" and rows[0].last_error_code == "21211"
    replacement = [m for m in rows if m.check_id == first.check_id and m.id != first.id]
    assert replacement and replacement[0].state == "sent" and replacement[0].to_number != first.to_number
    with factory() as session:
        contact = session.get(PatientContact, first.contact_id)
        assert contact.bad_since is not None and "21211" in contact.bad_reason
    assert checks_of(factory, round_id)[first.check_id].state == "no_answer"


async def test_bad_only_number_flags_delivery_failed(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1, phones_each=1)
    (first,) = messages_of(factory, round_id)
    notifier = FakeNotifier()
    notifier.fail_for(first.to_number, PermanentSendError("landline", code="21614", bad_contact=True))
    await run(factory, fast_settings, notifier)
    assert checks_of(factory, round_id)[first.check_id].state == "delivery_failed"
    assert messages_of(factory, round_id)[0].attempts == 1


async def test_stale_sending_rows_are_reclaimed(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=4)
    claimed = claims.claim_batch(factory, worker_id="dead-worker", limit=3)
    assert len(claimed) == 3
    with factory() as session:  # the dead worker claimed them long ago
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending")
            .values(claimed_at=OutboxMessage.claimed_at - timedelta(hours=1))
        )
        session.commit()
    notifier = FakeNotifier()
    await run(factory, fast_settings, notifier)
    assert {m.state for m in messages_of(factory, round_id)} == {"sent"}
    assert len(notifier.sent) == 4


async def test_graceful_stop_releases_what_was_not_sent(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=20)
    notifier = SlowNotifier()
    notifier.delay = 0.2
    worker = Worker(session_factory=factory, notifier=notifier, settings=fast_settings, concurrency=2, batch_size=10)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await wait_for(lambda: notifier.sent)
    stop.set()
    await asyncio.wait_for(task, 10)
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} <= {"sent", "queued"}
    assert sum(m.state == "sent" for m in rows) == len(notifier.sent) > 0
    assert all(m.attempts == 0 for m in rows if m.state == "queued")


class HangingNotifier(SlowNotifier):
    """Sends ``hang_after`` messages, then never returns from a send: the process dies with sends in flight."""

    hang_after = 10
    hanging = 0

    async def send_sms(self, *, to, body, status_callback=None, validity_period=None):
        if len(self.sent) >= self.hang_after:
            self.hanging += 1
            await asyncio.Event().wait()
        return await super().send_sms(
            to=to, body=body, status_callback=status_callback, validity_period=validity_period
        )


async def test_killed_worker_loses_nothing_and_duplicates_are_bounded(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_reclaim_after_seconds": 0.2})
    round_id, _ = seed_round(factory, settings, patients=40)
    notifier = HangingNotifier()
    notifier.delay = 0.02
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings, concurrency=4, batch_size=10)
    task = asyncio.create_task(worker.run())
    # Killed while a send is in flight: waiting on that, not on a count of sends, keeps the kill from
    # landing after a loaded machine let the worker send and record all 40 (3 of 50 runs did before).
    await wait_for(lambda: notifier.hanging > 0, what="a send in flight")
    task.cancel()  # as far as the database knows, the process died: nothing more is recorded
    with pytest.raises(asyncio.CancelledError):
        await task
    held = {m.to_number for m in messages_of(factory, round_id) if m.state == "sending"}
    assert held
    # No wait here: the new worker reclaims the dead one's rows once their lease (0.2 s) has run out.
    restarted = FakeNotifier()
    await run(factory, settings, restarted)
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"}
    reached = {s.to for s in notifier.sent} | {s.to for s in restarted.sent}
    assert reached == {m.to_number for m in rows}
    # Duplicates only among the rows the dead worker held (claimed, or sent but not yet recorded).
    sent_to = [s.to for s in notifier.sent] + [s.to for s in restarted.sent]
    twice = {to for to in sent_to if sent_to.count(to) > 1}
    assert twice <= held
    assert len(sent_to) - len(rows) <= len(held)


class CancellingNotifier(FakeNotifier):
    """Cancels the worker's senders just as a send completes: the interleaving of a real kill that
    asyncio.wait_for on Python 3.11 turned into a sender that swallowed its cancellation and waited
    on the empty queue for ever (the e2e worker-kill test hung on it)."""

    worker_task: asyncio.Task | None = None

    async def send_sms(self, *, to, body, status_callback=None, validity_period=None):
        result = await super().send_sms(
            to=to, body=body, status_callback=status_callback, validity_period=validity_period
        )
        if len(self.sent) == 3:
            loop = asyncio.get_running_loop()
            loop.call_soon(self.worker_task.cancel)
            for task in asyncio.all_tasks():
                if task.get_coro().__qualname__ == "Worker._sender":
                    loop.call_soon(task.cancel)
        return result


async def test_cancelled_while_a_send_completes_the_worker_stops(factory, fast_settings):
    seed_round(factory, fast_settings, patients=12)
    notifier = CancellingNotifier()
    worker = Worker(session_factory=factory, notifier=notifier, settings=fast_settings, concurrency=2, batch_size=4)
    notifier.worker_task = task = asyncio.create_task(worker.run())
    done, _ = await asyncio.wait([task], timeout=10)
    assert done, "the worker did not stop after it was cancelled"
    assert task.cancelled()


def test_sqlite_allows_one_worker(factory, fast_settings, engine):
    from bcp_service import heartbeat

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL runs several workers")
    heartbeat.start_worker(factory, "one")
    with factory() as session:  # as if "one" ran in another, live process
        session.execute(update(ServiceHeartbeat).values(process_id=1))
        session.commit()
    with pytest.raises(heartbeat.WorkerAlreadyRunning):
        heartbeat.start_worker(factory, "two")
    heartbeat.beat(factory, instance_id="one", name="worker", stopped=True)
    heartbeat.start_worker(factory, "two")
