import asyncio
import time

import httpx
from sqlalchemy import func
from sqlmodel import select

from bcp_service.models import CheckAnswer, OutboxMessage, SafetyCheck, UnmatchedReply
from bcp_service.outbox.worker import Worker
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.e2e.conftest import CALLER_ID, bulk_patients

PATIENTS = 5000


def start(stack, municipality_id, *, drill=True):
    with stack.factory() as session:
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("e2e"),
            settings=stack.settings,
            drill=drill,
            reason="disaster",
            target=RoundTarget(municipality_ids=[municipality_id]),
        )
        session.commit()
        return safety_round.id


async def send_all(stack, **worker_options):
    notifier = stack.notifier()
    try:
        worker = Worker(session_factory=stack.factory, notifier=notifier, settings=stack.settings, **worker_options)
        return await asyncio.wait_for(worker.run(exit_when_idle=True), timeout=120)
    finally:
        await notifier.aclose()


def wait_for_callbacks(stack):
    # Slow machines deliver ~100-190 callbacks/s; the assertion (all delivered) stays, only the wait grows.
    assert stack.sim.flush_callbacks(timeout=120) == 0


def states(stack, round_id):
    with stack.factory() as session:
        return dict(
            session.exec(
                select(OutboxMessage.state, func.count())
                .where(OutboxMessage.round_id == round_id)
                .group_by(OutboxMessage.state)
            ).all()
        )


async def test_5000_patient_round_through_the_simulator(engine, stack):
    municipality_id = bulk_patients(engine, PATIENTS)
    stack.sim.configure(answer_rate=0.1)
    started = time.monotonic()
    round_id = start(stack, municipality_id)
    stats = await send_all(stack)
    sent_in = time.monotonic() - started
    assert stats["sent"] == PATIENTS
    wait_for_callbacks(stack)
    elapsed = time.monotonic() - started
    print(f"sent in {sent_in:.1f}s, callbacks done at {elapsed:.1f}s", stack.sim.stats())

    sim_messages = stack.sim.messages(limit=PATIENTS * 2)
    with stack.factory() as session:
        numbers = set(session.exec(select(OutboxMessage.to_number).where(OutboxMessage.round_id == round_id)).all())
    assert {m["to"] for m in sim_messages if m["direction"] == "outbound-api"} == numbers
    assert all(m["body"].startswith("【千葉県】【訓練】") and f"{stack.app_url}/a/" in m["body"] for m in sim_messages)
    assert states(stack, round_id) == {"delivered": PATIENTS}

    # Replies by SMS, signed by the simulator: readable ones answer, the others wait for a person.
    replies = {
        f"+8170{i:08d}": body
        for i, body in zip(range(0, 600, 3), ["１", "無事です", "停電 あと3時間", "うーん"] * 50, strict=False)
    }
    for number, body in replies.items():
        assert stack.sim.inbound(from_=number, to=CALLER_ID, body=body)["status_code"] == 200
    link_answers = stack.sim.stats()["answers_sent"]
    assert stack.sim.stats()["answers_failed"] == 0 and link_answers > 300

    with stack.factory() as session:
        by_channel = dict(session.exec(select(CheckAnswer.channel, func.count()).group_by(CheckAnswer.channel)).all())
        assert by_channel["link"] == link_answers
        assert by_channel["sms"] == 150
        unmatched = session.exec(select(UnmatchedReply)).all()
        assert len(unmatched) == 50 and {u.reason for u in unmatched} == {"unreadable"}
        power = session.exec(
            select(SafetyCheck).where(
                SafetyCheck.round_id == round_id, SafetyCheck.last_channel == "sms", SafetyCheck.state == "power_out"
            )
        ).all()
        assert power and all(c.hours_left == 3.0 for c in power)
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)

    summary = httpx.get(f"{stack.app_url}/api/v1/rounds/{round_id}/summary")
    assert summary.status_code == 401  # the board is not public
    print(f"5,000-patient round end to end in {elapsed:.1f} s")


async def test_429_storm_and_5xx_lose_nothing(engine, stack):
    municipality_id = bulk_patients(engine, 600)
    stack.sim.configure(rate_limit_per_second=5, transient_failure_rate=0.1)  # the storm
    round_id = start(stack, municipality_id, drill=False)
    sending = asyncio.create_task(send_all(stack))
    await asyncio.sleep(3)
    assert stack.sim.stats()["rejected_429"] > 0
    stack.sim.configure(rate_limit_per_second=0)  # and it passes
    stats = await sending
    wait_for_callbacks(stack)
    sim_stats = stack.sim.stats()
    assert sim_stats["failed_transient"] > 0
    assert stats["throttled"] > 0 and stats["retry"] > 0
    assert states(stack, round_id) == {"delivered": 600}
    delivered_to = {m["to"] for m in stack.sim.messages(limit=5000)}
    assert len(delivered_to) == 600


async def test_worker_killed_mid_round_misses_no_patient(engine, stack):
    municipality_id = bulk_patients(engine, 2000)
    stack.sim.configure(latency_ms=20)
    round_id = start(stack, municipality_id, drill=False)
    notifier = stack.notifier()
    worker = Worker(session_factory=stack.factory, notifier=notifier, settings=stack.settings)
    task = asyncio.create_task(worker.run())
    while stack.sim.stats()["accepted"] < 500:
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)
    left = states(stack, round_id)
    assert left.get("sending", 0) > 0 and left.get("queued", 0) > 0

    await asyncio.sleep(stack.settings.send_reclaim_after_seconds)
    stack.sim.configure(latency_ms=0)
    await send_all(stack)
    wait_for_callbacks(stack)
    assert states(stack, round_id) == {"delivered": 2000}
    accepted = [m["to"] for m in stack.sim.messages(limit=10000)]
    assert len(set(accepted)) == 2000
    assert len(accepted) - 2000 <= worker.capacity  # duplicates bounded by what was in flight


async def test_a_round_larger_than_the_senders_queue_slows_down_and_loses_nothing(engine, stack):
    # Twilio queues about 10 hours of a sender's traffic and refuses more with 21611: here the queue
    # holds 100 segments and drains 200 a second, far less than a 300-message round (600 segments).
    municipality_id = bulk_patients(engine, 300)
    httpx.post(
        f"{stack.sim.base_url}/_sim/faults", json={"queue_segments": 100, "drain_segments_per_second": 200}, timeout=10
    ).raise_for_status()
    round_id = start(stack, municipality_id, drill=False)
    stats = await send_all(stack)
    wait_for_callbacks(stack)
    assert stack.sim.stats()["fault_21611_queue_full"] > 0  # the queue was full, often
    assert stats["sent"] == 300
    assert states(stack, round_id) == {"delivered": 300}  # it slowed down; nothing failed
    sent_to = [m["to"] for m in stack.sim.messages(limit=5000) if m["direction"] == "outbound-api"]
    assert len(sent_to) == len(set(sent_to)) == 300  # each patient once


async def test_a_message_past_its_validity_is_never_sent_to_the_provider(engine, stack):
    # Queued two hours ago (the worker was down): past BCP_SEND_VALIDITY_SECONDS it would arrive too
    # late to matter, so it never reaches Twilio and its check says so; the others go out.
    from datetime import timedelta

    from sqlalchemy import update

    stack.settings = stack.settings.model_copy(update={"send_validity_seconds": 3600})
    municipality_id = bulk_patients(engine, 20)
    round_id = start(stack, municipality_id, drill=False)
    with stack.factory() as session:
        late = session.exec(
            select(OutboxMessage).where(OutboxMessage.round_id == round_id).order_by(OutboxMessage.id).limit(5)
        ).all()
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([m.id for m in late]))
            .values(created_at=late[0].created_at - timedelta(hours=2))
        )
        session.commit()
    stats = await send_all(stack)
    wait_for_callbacks(stack)
    assert stats["sent"] == 15 and stats["expired"] == 5
    sent_to = {m["to"] for m in stack.sim.messages(limit=100) if m["direction"] == "outbound-api"}
    assert len(sent_to) == 15 and not sent_to & {m.to_number for m in late}
    assert states(stack, round_id) == {"delivered": 15, "failed": 5}
    with stack.factory() as session:
        checks = {m.check_id for m in late}
        assert {c.state for c in session.exec(select(SafetyCheck).where(SafetyCheck.id.in_(checks))).all()} == {
            "delivery_failed"
        }
