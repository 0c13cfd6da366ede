"""Account problems pause the lane, alert and resume (issue 26.1), through the worker and the simulator.

The Twilio simulator runs on a thread; the worker sends to it with the real notifier. A rotated token
(20003), a region not enabled (21408) and a burst of bare 401s pause the lane: no message and no check
is failed, the status says why, and sending resumes when the probe succeeds or an admin resumes.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bcp_service import lanes
from bcp_service.heartbeat import read_system_status
from bcp_service.models import AuditEvent, OutboxMessage, SafetyCheck, SendLanePause
from bcp_service.outbox.notifier import build_notifier
from bcp_service.outbox.retry import RetryPolicy
from bcp_service.outbox.worker import Worker
from bcp_service.twilio_sim import SimConfig, start_sim_in_thread
from notifiers import FakeNotifier, PermanentSendError, TransientSendError
from tests.outbox.conftest import seed_round, wait_for


@pytest.fixture
def sim():
    running = start_sim_in_thread(SimConfig(seed=3, callback_statuses=["sent"]))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sim_settings(fast_settings, sim):
    return fast_settings.model_copy(
        update={
            "notifier": "twilio",
            "twilio_account_sid": sim.account_sid,
            "twilio_auth_token": SecretStr(sim.auth_token),
            "twilio_sms_sender": "BCPTEST",
            "twilio_voice_caller_id": "+815011112222",
            "twilio_base_url": sim.base_url,
            "twilio_status_callbacks": False,
            "send_rate_per_second": 4,
            "send_lane_check_seconds": 0.1,
            "send_account_probe_seconds": 0.3,
        }
    )


def rows(factory, round_id):
    with factory() as session:
        messages = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_id)).all()
        checks = session.exec(select(SafetyCheck).where(SafetyCheck.round_id == round_id)).all()
        return messages, checks


@contextlib.asynccontextmanager
async def running(factory, settings):
    """The worker the CLI runs (real notifier, against the simulator), stopped if the test fails."""
    notifier = build_notifier(settings)
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings)
    task = asyncio.create_task(worker.run(exit_when_idle=True))
    try:
        yield worker, task
    finally:
        if not task.done():
            task.cancel()
        await notifier.aclose()


def pauses(factory) -> list[SendLanePause]:
    with factory() as session:
        return list(session.exec(select(SendLanePause)).all())


async def test_token_rotated_mid_round_pauses_the_lane_with_no_check_failed_and_resumes(factory, sim, sim_settings):
    round_id, _ = seed_round(factory, sim_settings, patients=8)
    async with running(factory, sim_settings) as (worker, task):
        await wait_for(lambda: worker.stats["sent"] >= 2, timeout=20, what="the round to start sending")
        await asyncio.to_thread(sim.configure, auth_token="rotated-by-someone")  # the token is rotated
        await wait_for(lambda: bool(pauses(factory)), timeout=20, what="the lane to pause")
        (pause,) = pauses(factory)
        assert (pause.lane, pause.reason, pause.code) == ("sms", "auth", "20003")
        await asyncio.sleep(1.0)  # paused for a while: the probe keeps failing, nothing moves
        messages, checks = rows(factory, round_id)
        assert [m for m in messages if m.state == "failed"] == []
        assert "delivery_failed" not in {c.state for c in checks}
        queued = [m for m in messages if m.state == "queued"]
        assert queued and all(m.attempts == 0 for m in queued)  # a refused send is not an attempt
        with factory() as session:
            status = read_system_status(session=session, stale_after_seconds=60)
        assert [(p.lane, p.code) for p in status.lanes_paused] == [("sms", "20003")]
        assert "認証" in status.lanes_paused[0].cause
        assert not task.done()
        await asyncio.to_thread(sim.configure, auth_token=sim_settings.twilio_auth_token.get_secret_value())  # fixed
        await asyncio.wait_for(task, 30)
    messages, checks = rows(factory, round_id)
    assert {m.state for m in messages} == {"sent"} and len(messages) == 8
    assert "delivery_failed" not in {c.state for c in checks}
    assert pauses(factory) == []
    assert worker.stats["failed"] == 0 and worker.stats["paused_by_account"] >= 1


async def test_region_not_enabled_pauses_until_an_admin_resumes(factory, sim, sim_settings):
    settings = sim_settings.model_copy(update={"send_account_probe_seconds": 600})  # no probe: the admin resumes
    round_id, _ = seed_round(factory, settings, patients=4)
    sim._control("POST", "/_sim/faults", json={"account_error": "21408"})
    async with running(factory, settings) as (worker, task):
        await wait_for(lambda: bool(pauses(factory)), timeout=20, what="the lane to pause")
        assert pauses(factory)[0].reason == "geo_permission"
        sim._control("DELETE", "/_sim/faults")
        await asyncio.sleep(0.5)
        assert worker.stats["sent"] == 0  # still paused: the setting was fixed, nobody said so yet
        with factory() as session:
            assert lanes.resume_lane(session=session, lane="sms", by="admin")
            session.commit()
        await asyncio.wait_for(task, 30)
    messages, _ = rows(factory, round_id)
    assert {m.state for m in messages} == {"sent"}


async def test_a_burst_of_bare_401_pauses_but_one_does_not(factory, fast_settings):
    settings = fast_settings.model_copy(
        update={
            "send_account_burst": 3,
            "send_lane_check_seconds": 0.05,
            "send_account_probe_seconds": 0.2,
            "send_concurrency": 1,
        }
    )
    round_id, _ = seed_round(factory, settings, patients=3)
    notifier = FakeNotifier()
    notifier.fail_next(PermanentSendError("401", code=None, fact="account_suspect", reason="auth"), times=1)
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    assert pauses(factory) == [] and len(notifier.sent) == 3  # one 401 alone: retried, not paused

    round_id, _ = seed_round(factory, settings, patients=3)
    notifier = FakeNotifier(account_error=PermanentSendError("401", code=None, fact="account_suspect", reason="auth"))
    notifier.fail_next(PermanentSendError("401", code=None, fact="account_suspect", reason="auth"), times=5)
    worker = Worker(session_factory=factory, notifier=notifier, settings=settings)
    task = asyncio.create_task(worker.run(exit_when_idle=True))
    await wait_for(lambda: bool(pauses(factory)), timeout=20, what="the burst to pause the lane")
    assert pauses(factory)[0].reason == "auth"
    notifier.account_error = None  # the probe succeeds now
    await asyncio.wait_for(task, 30)
    messages, _ = rows(factory, round_id)
    assert {m.state for m in messages} == {"sent"}


def test_the_policy_reads_facts_not_codes():
    policy = RetryPolicy()
    assert policy.decide(PermanentSendError("x", code="20003"), attempts=1, throttled=0).kind == "pause"
    assert policy.decide(PermanentSendError("x", code="21612"), attempts=1, throttled=0).kind == "pause"
    assert policy.decide(PermanentSendError("x", code="21211"), attempts=1, throttled=0).kind == "bad_contact"
    assert policy.decide(TransientSendError("x", code="20429"), attempts=1, throttled=0).throttled
    assert policy.decide(PermanentSendError("x", code="99999"), attempts=1, throttled=0).kind == "failed"


def test_every_staff_page_shows_the_pause_and_an_admin_resumes_it_audited(engine, settings, factory):
    from fastapi.testclient import TestClient

    from bcp_service.app import create_app
    from tests.factories import bearer, create_user

    app = create_app(settings, engine)
    with factory() as session:
        lanes.pause_lane(session=session, lane="sms", reason="geo_permission", code="21408")
        admin_headers = bearer(session, create_user(session, "admin"))
        nurse_headers = bearer(session, create_user(session, "prefecture", scope_id=None))
        session.commit()
    lanes.forget_banner()
    with TestClient(app) as client:
        home = client.get("/", headers=nurse_headers).text
        assert 'id="lane-status"' in home and "日本あての送信" in home and "21408" in home
        assert "/system/lanes" not in home.split('id="lane-status"')[1][:600]  # resume is the admin's
        status = client.get("/api/v1/system/status", headers=admin_headers).json()
        assert [(p["lane"], p["reason"], p["code"]) for p in status["lanes_paused"]] == [
            ("sms", "geo_permission", "21408")
        ]
        assert client.get("/system/lanes", headers=nurse_headers).status_code == 403
        page = client.get("/system/lanes", headers=admin_headers).text
        assert 'id="lane-sms"' in page and "SMSの送信を再開する" in page
        refused = client.post("/system/lanes/fax/resume", headers=admin_headers)
        assert refused.status_code == 404 and "その送信経路はありません" in refused.text
        done = client.post("/system/lanes/sms/resume", headers=admin_headers, follow_redirects=False)
        assert done.status_code == 303
        after = client.get(done.headers["location"], headers=admin_headers).text
        assert "SMSの送信を再開しました" in after and 'id="lane-status"' not in after and 'id="lanes-none"' in after
    assert pauses(factory) == []
    with factory() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.lane_resume")).all()
        assert [e.detail for e in events] == ["lane=sms"]
