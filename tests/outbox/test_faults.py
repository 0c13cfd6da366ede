"""The sender under faults (issue 19): database outages, a poison batch, provider outages, expiry."""

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from bcp_service.models import OutboxMessage, SafetyCheck, ServiceHeartbeat
from bcp_service.outbox import claims
from bcp_service.outbox.worker import Worker
from notifiers import FakeNotifier, TransientSendError
from tests.factories import refused_channels
from tests.outbox.conftest import SlowNotifier, seed_round, wait_for


def messages_of(factory, round_id):
    with factory() as session:
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id)
        ).all()


class Outage:
    """A session factory whose database can be switched off: every new session fails as a restart would."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.down = False
        self.refused = 0

    def __call__(self):
        if self.down:
            self.refused += 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is restarting"))
        return self.factory()


async def test_worker_started_during_an_outage_waits_then_sends(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=5)
    outage = Outage(factory)
    outage.down = True
    worker = Worker(session_factory=outage, notifier=(notifier := FakeNotifier()), settings=fast_settings)
    task = asyncio.create_task(worker.run(exit_when_idle=True))
    await wait_for(lambda: outage.refused >= 3, what="the worker to retry")
    assert not task.done() and worker.db_start.waiting_since is not None
    outage.down = False
    await asyncio.wait_for(task, 30)
    assert len(notifier.sent) == 5
    assert {m.state for m in messages_of(factory, round_id)} == {"sent"}


async def test_worker_rides_out_an_outage_mid_round_with_the_shared_limiter(factory, fast_settings):
    # The limiter's bucket is a database row: its calls were the path that killed the worker.
    settings = fast_settings.model_copy(update={"send_rate_per_second": 200})
    round_id, _ = seed_round(factory, settings, patients=30)
    outage = Outage(factory)
    notifier = SlowNotifier()
    notifier.delay = 0.01
    worker = Worker(session_factory=outage, notifier=notifier, settings=settings, concurrency=2, batch_size=5)
    task = asyncio.create_task(worker.run(exit_when_idle=True))
    await wait_for(lambda: len(notifier.sent) >= 5, what="sending to start")
    outage.down = True
    refused = outage.refused
    await wait_for(lambda: outage.refused >= refused + 5, what="the worker to meet the outage")
    assert not task.done()
    outage.down = False
    await asyncio.wait_for(task, 30)
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"}
    assert {s.to for s in notifier.sent} == {m.to_number for m in rows}
    assert len(notifier.sent) == len(rows)  # the worker lived: nothing was sent twice


async def test_a_poison_outcome_is_isolated_and_the_rest_recorded(factory, fast_settings, monkeypatch):
    round_id, _ = seed_round(factory, fast_settings, patients=8)
    poison = messages_of(factory, round_id)[3].id
    real = claims.record_outcomes

    def record(session_factory, outcomes, *, worker_id):
        if any(o.message_id == poison and o.kind == "sent" for o in outcomes):
            raise IntegrityError("UPDATE outbox_message", {}, ValueError("a constraint"))
        return real(session_factory, outcomes, worker_id=worker_id)

    monkeypatch.setattr(claims, "record_outcomes", record)
    worker = Worker(session_factory=factory, notifier=FakeNotifier(), settings=fast_settings, batch_size=8)
    stats = await asyncio.wait_for(worker.run(exit_when_idle=True), 30)
    rows = {m.id: m for m in messages_of(factory, round_id)}
    assert rows[poison].state == "failed" and rows[poison].last_error_code == "record"
    assert {m.state for i, m in rows.items() if i != poison} == {"sent"}
    assert stats["record_failed"] == 1


async def test_a_message_past_its_validity_is_not_sent(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_validity_seconds": 3600})
    round_id, _ = seed_round(factory, settings, patients=3)
    late = messages_of(factory, round_id)[0]
    with factory() as session:  # queued two hours ago: the provider was down, the worker stopped...
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == late.id)
            .values(created_at=late.created_at - timedelta(hours=2))
        )
        session.commit()
    notifier = FakeNotifier()
    stats = await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    assert stats["expired"] == 1 and len(notifier.sent) == 2
    assert late.to_number not in {s.to for s in notifier.sent}
    rows = {m.id: m for m in messages_of(factory, round_id)}
    assert rows[late.id].state == "failed" and rows[late.id].last_error_code == "expired"
    with factory() as session:  # the check shows it, so escalation and people act on it
        check = session.get(SafetyCheck, late.check_id)
        assert check.state == "delivery_failed"


async def test_retries_last_until_the_validity_not_a_number_of_attempts(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=2)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("down", code="20500"), times=15)  # more than the old cap of 6
    settings = fast_settings.model_copy(update={"send_breaker_failures": 1000})
    stats = await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    assert stats["sent"] == 2 and stats["failed"] == 0
    assert {m.state for m in messages_of(factory, round_id)} == {"sent"}


async def test_provider_outage_pauses_the_lane_and_the_board_knows(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=20)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("down", code="20500"), times=1000)
    settings = fast_settings.model_copy(update={"send_breaker_failures": 3, "send_breaker_pause_seconds": 0.05})
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings, concurrency=4)
    task = asyncio.create_task(worker.run(exit_when_idle=True))
    await wait_for(lambda: worker.breakers["sms"].is_open, what="the lane to open")
    await wait_for(lambda: len(notifier.failures) >= 6, what="probes")
    # While open, only probes reach the provider: far fewer tries than 20 messages' worth of retries.
    assert worker.status()["provider_unavailable_since"] is not None
    await asyncio.to_thread(worker._maintain)
    with factory() as session:
        info = session.exec(select(ServiceHeartbeat).where(ServiceHeartbeat.name == "worker")).one().info
        assert info["provider_unavailable_since"] and info["lanes_down"] == ["sms"]
    notifier.clear_failures()  # the provider is back
    await asyncio.wait_for(task, 30)
    assert {m.state for m in messages_of(factory, round_id)} == {"sent"}
    assert not worker.breakers["sms"].is_open and worker.status()["provider_unavailable_since"] is None


async def test_a_full_sender_queue_slows_down_and_loses_nothing(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=6)
    notifier = FakeNotifier()
    notifier.fail_next(TransientSendError("queue full", code="21611"), times=10)
    stats = await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=fast_settings).run(exit_when_idle=True), 30
    )
    assert stats["sent"] == 6 and stats["throttled"] == 10 and stats["failed"] == 0
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"}
    assert sum(m.attempts for m in rows) == 6  # backpressure is not an attempt


async def test_reconciliation_fetches_what_a_lost_receipt_left_behind(factory, fast_settings):
    from bcp_service.outbox.reconcile import reconcile

    round_id, _ = seed_round(factory, fast_settings, patients=3)
    notifier = FakeNotifier()
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=fast_settings).run(exit_when_idle=True), 30
    )
    lost, delivered, fresh = messages_of(factory, round_id)
    notifier.statuses[lost.provider_message_id] = ("undelivered", "30005")
    with factory() as session:  # no receipt came for two of them in 20 minutes
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([lost.id, delivered.id]))
            .values(status_at=lost.status_at - timedelta(minutes=20))
        )
        session.commit()
    stats = await reconcile(factory, notifier, older_than=timedelta(minutes=10))
    assert stats["applied"] == 2 and sorted(notifier.fetched) == sorted(
        [lost.provider_message_id, delivered.provider_message_id]
    )
    rows = {m.id: m for m in messages_of(factory, round_id)}
    assert (rows[lost.id].state, rows[lost.id].last_error_code) == ("undelivered", "30005")
    assert rows[delivered.id].state == "delivered" and rows[fresh.id].state == "sent"
    with factory() as session:  # the number cannot take SMS (30005): the same number is called instead
        assert refused_channels(session, lost.contact_id) == {"sms"}
        calls = session.exec(
            select(OutboxMessage).where(OutboxMessage.check_id == lost.check_id, OutboxMessage.channel == "voice")
        ).all()
        assert len(calls) == 1 and calls[0].to_number == lost.to_number
    assert (await reconcile(factory, notifier, older_than=timedelta(minutes=10)))["applied"] == 0


async def test_the_shared_limit_counts_segments_not_messages(factory, fast_settings):
    from bcp_service.rounds.messages import segments

    settings = fast_settings.model_copy(update={"send_rate_per_second": 1000})
    seed_round(factory, settings, patients=12)
    notifier = FakeNotifier()
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings)
    taken = []
    acquire, give_back = worker.limiter.acquire, worker.limiter.give_back

    async def counted(wanted):
        granted = await acquire(wanted)
        taken.append(granted)
        return granted

    def returned(unused):
        taken.append(-unused)
        give_back(unused)

    worker.limiter.acquire, worker.limiter.give_back = counted, returned
    await asyncio.wait_for(worker.run(exit_when_idle=True), 30)
    cost = sum(segments(s.body) for s in notifier.sent)
    # Counted in segments, whatever one text takes (one or two UCS-2 segments, with the sender's name).
    assert len(notifier.sent) == 12 and 12 <= cost <= 24
    assert sum(taken) == cost


async def test_a_claim_committed_while_its_answer_was_lost_is_not_stuck(factory, fast_settings, monkeypatch):
    # The database restarted between the claim's commit and its answer: the rows are marked ours,
    # but the worker never saw them. They must go out, not be renewed for ever.
    round_id, _ = seed_round(factory, fast_settings, patients=6)
    real, cut = claims.claim_batch, {"once": True}

    def claim_then_lose_the_answer(session_factory, **kwargs):
        claimed = real(session_factory, **kwargs)
        if cut.pop("once", False) and claimed:
            raise OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection"))
        return claimed

    monkeypatch.setattr(claims, "claim_batch", claim_then_lose_the_answer)
    notifier = FakeNotifier()
    stats = await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=fast_settings).run(exit_when_idle=True), 30
    )
    rows = messages_of(factory, round_id)
    assert {m.state for m in rows} == {"sent"} and len(notifier.sent) == 6 and stats["sent"] == 6
    assert all(m.attempts == 1 for m in rows)


async def test_a_claimed_batch_goes_out_when_paying_its_extra_segments_meets_an_outage(factory, fast_settings):
    # pg_fast_restart left one message "sending" for good: the claim succeeded, then paying the segments
    # the rendered text cost beyond the tokens taken (a leftover odd token) met the restart, and the
    # claimed batch was dropped while the worker kept renewing it as its own.
    settings = fast_settings.model_copy(update={"send_rate_per_second": 1000})
    round_id, _ = seed_round(factory, settings, patients=5)
    notifier = FakeNotifier()
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings)
    acquire, calls = worker.limiter.acquire, {"n": 0}

    async def odd_token_then_restart(wanted):
        calls["n"] += 1
        if calls["n"] == 1:
            await acquire(1)
            return 1  # one token: one message claimed, which costs two segments
        if calls["n"] in (2, 3):  # paying the second segment meets the restart, twice
            raise OperationalError("SELECT", {}, ConnectionResetError("server closed the connection"))
        return await acquire(wanted)

    worker.limiter.acquire = odd_token_then_restart
    stats = await asyncio.wait_for(worker.run(exit_when_idle=True), 30)
    assert {m.state for m in messages_of(factory, round_id)} == {"sent"}
    assert len(notifier.sent) == 5 and stats["sent"] == 5
