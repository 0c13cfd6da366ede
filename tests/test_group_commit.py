"""Group commit: many requests' writes in one transaction, each answered after its commit."""

import asyncio
import threading
from functools import partial

import pytest
from sqlmodel import select

from bcp_service.db import make_session_factory
from bcp_service.group_commit import GroupCommit, transaction
from bcp_service.models import ServiceHeartbeat
from bcp_service.models.base import utcnow
from tests.dbutil import wipe_database


@pytest.fixture
def factory(engine):
    yield make_session_factory(engine)
    wipe_database(engine)


def beats(session, names: list[str]) -> list[str]:
    now = utcnow()
    for name in names:
        if name.startswith("bad"):
            raise ValueError("a bad item")
        session.add(
            ServiceHeartbeat(instance_id=name, name="test", host="h", process_id=1, started_at=now, beat_at=now)
        )
    return [f"ok:{name}" for name in names]


def stored(factory) -> set[str]:
    with factory() as session:
        return set(session.exec(select(ServiceHeartbeat.instance_id)).all())


def writer_for(engine, factory, apply=beats) -> GroupCommit:
    return GroupCommit("test", apply, lambda: partial(transaction, factory), sqlite=engine.dialect.name == "sqlite")


async def test_concurrent_writes_share_transactions_and_each_gets_its_result(engine, factory):
    gate = threading.Event()

    def slow_first(session, names):
        gate.wait(5)  # the first batch waits, so the others queue behind it
        return beats(session, names)

    writer = writer_for(engine, factory, slow_first)
    first = asyncio.create_task(writer.submit("w0"))
    await asyncio.sleep(0.05)
    rest = [asyncio.create_task(writer.submit(f"w{i}")) for i in range(1, 50)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(first, *rest)
    assert results == [f"ok:w{i}" for i in range(50)]
    assert writer.items == 50 and writer.batches == 2
    assert stored(factory) == {f"w{i}" for i in range(50)}


async def test_a_bad_item_fails_alone(engine, factory):
    gate = threading.Event()

    def gated(session, names):
        gate.wait(5)
        return beats(session, names)

    writer = writer_for(engine, factory, gated)
    blocker = asyncio.create_task(writer.submit("first"))
    await asyncio.sleep(0.05)
    batch = [asyncio.create_task(writer.submit(name)) for name in ("a", "bad-one", "b")]
    await asyncio.sleep(0.05)
    gate.set()
    await blocker
    outcomes = await asyncio.gather(*batch, return_exceptions=True)
    assert outcomes[0] == "ok:a" and outcomes[2] == "ok:b"
    assert isinstance(outcomes[1], ValueError)
    assert stored(factory) == {"first", "a", "b"}


async def test_the_answer_comes_after_the_commit(engine, factory):
    writer = writer_for(engine, factory)
    assert await writer.submit("committed") == "ok:committed"
    assert stored(factory) == {"committed"}  # seen by another session at once
