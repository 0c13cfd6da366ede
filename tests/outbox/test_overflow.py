"""Twilio 30001 (the message expired in the sender's queue): retried while it matters, then handed over."""

import asyncio
from datetime import timedelta

from sqlmodel import select

from bcp_service.db import unit_of_work
from bcp_service.models import OutboxMessage, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import apply_statuses
from bcp_service.outbox.overflow import requeue_overflows
from bcp_service.outbox.retry import RetryPolicy
from bcp_service.outbox.worker import Worker
from notifiers import FakeNotifier
from tests.outbox.conftest import seed_round

FAST = RetryPolicy(base_seconds=0.01, max_seconds=0.05)


def rows(factory, round_id):
    with factory() as session:
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id)
        ).all()


def check_state(factory, check_id):
    with factory() as session:
        return session.get(SafetyCheck, check_id).state


async def send_all(factory, settings) -> FakeNotifier:
    notifier = FakeNotifier()
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    return notifier


def overflow(factory, message):
    with unit_of_work(factory) as session:
        assert apply_statuses(session, [(message.provider_message_id, "failed", "30001")]) == ["applied"]


async def test_an_overflowed_message_is_sent_again_while_it_still_matters(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    await send_all(factory, fast_settings)
    (first,) = rows(factory, round_id)
    overflow(factory, first)
    # Not the number's fault and not the check's: no delivery_failed, no contact marked, nothing handed over.
    assert check_state(factory, first.check_id) == "no_answer"
    assert [(m.state, m.last_error_code) for m in rows(factory, round_id)] == [("failed", "30001")]

    found = requeue_overflows(factory, validity=timedelta(hours=1), policy=FAST)
    assert found == {"retried": 1}
    assert requeue_overflows(factory, validity=timedelta(hours=1), policy=FAST) == {}  # once, not at every pass
    old, copy = rows(factory, round_id)
    assert (copy.state, copy.contact_id, copy.channel, copy.to_number) == (
        "queued",
        old.contact_id,
        "sms",
        old.to_number,
    )
    assert copy.created_at == old.created_at  # its validity runs from when the first copy was queued
    assert copy.next_attempt_at > utcnow() - timedelta(seconds=1) and copy.answer_token_hash != old.answer_token_hash

    notifier = await send_all(factory, fast_settings)
    assert [sent.to for sent in notifier.sent] == [old.to_number]
    assert rows(factory, round_id)[1].state == "sent" and check_state(factory, old.check_id) == "no_answer"


async def test_later_copies_wait_longer(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    slow = RetryPolicy(base_seconds=100, max_seconds=10_000, jitter=0)
    await send_all(factory, fast_settings)
    overflow(factory, rows(factory, round_id)[0])
    requeue_overflows(factory, validity=timedelta(hours=4), policy=slow)
    first_wait = rows(factory, round_id)[1].next_attempt_at - utcnow()
    with unit_of_work(factory) as session:  # the copy left and overflowed too
        copy = session.get(OutboxMessage, rows(factory, round_id)[1].id)
        copy.state, copy.provider_message_id = "sent", "SMcopy"
    overflow(factory, rows(factory, round_id)[1])
    requeue_overflows(factory, validity=timedelta(hours=4), policy=slow)
    second_wait = rows(factory, round_id)[2].next_attempt_at - utcnow()
    assert timedelta(seconds=90) < first_wait <= timedelta(seconds=100)
    assert timedelta(seconds=190) < second_wait <= timedelta(seconds=200)


async def test_past_its_validity_the_check_is_handed_over_by_the_channel_rule(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    await send_all(factory, fast_settings)
    (first,) = rows(factory, round_id)
    overflow(factory, first)
    assert requeue_overflows(factory, validity=timedelta(seconds=0), policy=FAST) == {"handed_over": 1}
    old, call = rows(factory, round_id)
    # A mobile number: the same number's other channel (a call), as for any failed SMS.
    assert (call.channel, call.contact_id, call.state) == ("voice", old.contact_id, "queued")
    assert requeue_overflows(factory, validity=timedelta(seconds=0), policy=FAST) == {}


async def test_nothing_left_to_try_flags_the_check(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    await send_all(factory, fast_settings)
    (first,) = rows(factory, round_id)
    with unit_of_work(factory) as session:  # the call was already tried and failed
        session.add(
            OutboxMessage(
                round_id=round_id,
                check_id=first.check_id,
                contact_id=first.contact_id,
                channel="voice",
                to_number=first.to_number,
                state="failed",
                id=first.id - 1,
            )
        )
    overflow(factory, first)
    assert requeue_overflows(factory, validity=timedelta(seconds=0), policy=FAST) == {"flagged": 1}
    assert check_state(factory, first.check_id) == "delivery_failed"


async def test_an_answered_check_needs_nothing_more(factory, fast_settings):
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    await send_all(factory, fast_settings)
    (first,) = rows(factory, round_id)
    with unit_of_work(factory) as session:
        check = session.get(SafetyCheck, first.check_id)
        check.last_answer_at, check.state = utcnow(), "safe"
    overflow(factory, first)
    assert requeue_overflows(factory, validity=timedelta(hours=1), policy=FAST) == {}
    assert len(rows(factory, round_id)) == 1
