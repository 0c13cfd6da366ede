"""`bcp-service feeds --once` against the loopback stand-in, on a database of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import select
from typer.testing import CliRunner

from bcp_service import migrations
from bcp_service.cli import app as cli
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.models import JmaFeedEntry, ServiceHeartbeat, TriggerDecision
from tests.feeds.server import JmaStandIn
from tests.triggers.helpers import DATA


def test_feeds_once_polls_decides_and_beats(tmp_path, monkeypatch):
    jma = JmaStandIn().start()
    try:
        link = jma.add_bulletin(DATA / "vxse51_chiba_5lower.xml")
        feed = jma.set_feed("eqvol.xml", [("震度速報", link, datetime(2025, 3, 1, 1, 16, tzinfo=UTC))])
        url = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
        engine = make_engine(url)
        migrations.upgrade(engine)
        monkeypatch.setenv("BCP_DATABASE_URL", url)
        monkeypatch.setenv("BCP_FEEDS_URLS", json.dumps([feed]))
        monkeypatch.setenv("BCP_FEEDS_BULLETIN_HOSTS", json.dumps(["127.0.0.1"]))
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["feeds", "--once"])
        assert result.exit_code == 0, result.output
        assert "1 new entries" in result.output and "1 bulletins decided" in result.output
        again = CliRunner().invoke(cli, ["feeds", "--once"])
        assert "1 not modified" in again.output and "0 bulletins decided" in again.output
        with make_session_factory(engine)() as session:
            assert [e.state for e in session.exec(select(JmaFeedEntry))] == ["done"]
            # An old bulletin (2025): decided and recorded, but it starts nothing.
            assert [d.reason for d in session.exec(select(TriggerDecision))] == ["stale_event"]
            assert {b.name for b in session.exec(select(ServiceHeartbeat))} == {"feeds"}
        engine.dispose()
    finally:
        get_settings.cache_clear()
        jma.stop()


def test_a_poll_that_meets_a_database_outage_beats_that_it_waits(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from bcp_service.feeds.poller import FeedPoller

    def restarting(_self):
        raise OperationalError("SELECT", {}, ConnectionRefusedError("the database is restarting"))

    url = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    monkeypatch.setattr(FeedPoller, "run_once", restarting)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["feeds", "--once"])
        assert result.exit_code == 0, result.output  # an outage is waited out, not a crash
        with make_session_factory(engine)() as session:
            (beat,) = session.exec(select(ServiceHeartbeat)).all()
        assert beat.name == "feeds" and beat.info["database_waiting_since"] is not None
    finally:
        get_settings.cache_clear()
        engine.dispose()
