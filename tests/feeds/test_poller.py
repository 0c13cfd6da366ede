"""The feed poller against a loopback stand-in for the Agency's server, replaying recorded bulletins."""

from __future__ import annotations

import gzip
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bcp_service.feeds.atom import FeedError, parse_feed
from bcp_service.feeds.poller import FeedPoller
from bcp_service.models import JmaFeed, JmaFeedEntry, TriggerReport
from tests.feeds.server import JmaStandIn
from tests.shared_data import SHARED_DATA, requires_shared
from tests.triggers.dbsetup import chiba, decisions, records, round_municipality_codes, rounds, run_starts  # noqa: F401
from tests.triggers.helpers import CHIBA, DATA, FUNABASHI, ICHIKAWA, INZAI, NARASHINO, at

SHARED_FEEDS = SHARED_DATA / "jma" / "feeds"
OWN_FEEDS = Path(__file__).parent / "recorded"
NORTH_WEST = {CHIBA, ICHIKAWA, FUNABASHI, NARASHINO, INZAI}
QUAKE_51 = ("震度速報", "vxse51_chiba_5lower.xml", at(10, 16, 30))
CANCEL_51 = ("震度速報", "vxse51_cancel.xml", at(10, 17, 0))
STRONGER = ("震源・震度に関する情報", "vxse53_aftershock_stronger.xml", at(10, 17, 20))
CITIES = ("震源・震度に関する情報", "vxse53_chiba_cities.xml", at(10, 20, 0))
CANCEL_STRONGER = ("震源・震度に関する情報", "vxse53_aftershock_cancel.xml", at(10, 18, 0))


@pytest.fixture
def jma():
    server = JmaStandIn().start()
    yield server
    server.stop()


@contextmanager
def _borrow(session: Session):
    yield session


class Replay:
    """The poller as `bcp-service feeds` runs it, on the test's session and a settable clock."""

    def __init__(self, jma: JmaStandIn, session: Session, settings) -> None:
        self.jma, self.session = jma, session
        self.listed: list[tuple[str, str, object]] = []
        self.feed_url = jma.set_feed("eqvol.xml", [])
        self.settings = settings.model_copy(
            update={
                "feeds_urls": [self.feed_url],
                "feeds_bulletin_hosts": ["127.0.0.1"],
                "feeds_max_attempts": 3,
            }
        )
        self.now = None
        self.poller = self.restart()

    def restart(self) -> FeedPoller:
        self.poller = FeedPoller(
            session_factory=lambda: _borrow(self.session), settings=self.settings, clock=lambda: self.now
        )
        return self.poller

    def publish(self, *bulletins: tuple[str, str, object]) -> None:
        for title, name, updated in bulletins:
            self.listed.append((title, self.jma.add_bulletin(DATA / name), updated))
        self.jma.set_feed("eqvol.xml", self.listed)

    def poll(self, now):
        self.now = now
        self.session.commit()
        return self.poller.run_once()

    def fetches(self, name: str) -> int:
        return self.jma.requests[f"/developer/xml/data/{name}"]


@pytest.fixture
def replay(jma, session, settings, chiba):
    return Replay(jma, session, settings)


def test_stronger_aftershock_in_the_delay_and_a_follow_up_give_one_round(replay, session, settings, chiba):
    replay.publish(QUAKE_51)
    first = replay.poll(at(10, 16, 40))
    assert (first.entries_new, first.bulletins_decided, first.decisions) == (1, 1, ["schedule_round/threshold_met"])

    again = replay.poll(at(10, 16, 50))
    assert (again.not_modified, again.entries_new, again.bulletins_decided) == (1, 0, 0)

    replay.publish(STRONGER)
    merged = replay.poll(at(10, 17, 30))
    assert merged.decisions == ["update_pending/merged_into_pending"]
    (record,) = records(session)
    assert record.state == "pending" and record.municipality_severity[FUNABASHI] == 7

    (round_id,) = run_starts(session, settings, at(10, 19, 40))  # three minutes after the first poll
    replay.publish(CITIES)
    follow_up = replay.poll(at(10, 20, 10))
    assert follow_up.decisions == ["ignore/duplicate_event"]
    assert run_starts(session, settings, at(10, 40)) == []
    assert [r.id for r in rounds(session)] == [round_id]
    assert round_municipality_codes(session, round_id, chiba) == NORTH_WEST
    for name in ("vxse51_chiba_5lower.xml", "vxse53_aftershock_stronger.xml", "vxse53_chiba_cities.xml"):
        assert replay.fetches(name) == 1, name
    entries = session.exec(select(JmaFeedEntry)).all()
    assert {e.state for e in entries} == {"done"} and all(e.report_ids for e in entries)
    assert all(r.received_by_name == "system:feeds" for r in session.exec(select(TriggerReport)))


def test_cancelling_the_merged_aftershock_shrinks_the_pending_round_back(replay, session, settings, chiba):
    replay.publish(QUAKE_51)
    first = replay.poll(at(10, 16, 40))
    assert first.decisions == ["schedule_round/threshold_met"]
    (before,) = records(session)
    quake_only = dict(before.municipality_severity)
    replay.publish(STRONGER)
    assert replay.poll(at(10, 17, 30)).decisions == ["update_pending/merged_into_pending"]
    replay.publish(CANCEL_STRONGER)
    withdrawn = replay.poll(at(10, 18, 10))
    assert withdrawn.decisions == ["update_pending/cancelled_event_withdrawn"]
    (record,) = records(session)
    assert record.state == "pending" and record.municipality_severity == quake_only
    (round_id,) = run_starts(session, settings, at(10, 19, 40))
    assert round_municipality_codes(session, round_id, chiba) == set(quake_only)


def test_cancellation_in_the_same_feed_read_after_what_it_cancels(replay, session, settings):
    replay.publish(CANCEL_51, QUAKE_51)  # listed newest first: the cancellation on top
    result = replay.poll(at(10, 17, 10))
    assert result.decisions == ["schedule_round/threshold_met", "cancel_pending/cancelled_before_send"]
    assert run_starts(session, settings, at(10, 30)) == []
    assert rounds(session) == [] and [r.state for r in records(session)] == ["cancelled"]


def test_feed_and_bulletin_errors_then_a_restart_neither_miss_nor_repeat(replay, jma, session, settings):
    replay.publish(QUAKE_51, CANCEL_51)
    jma.failures["/developer/xml/feed/eqvol.xml"] = 1
    broken = replay.poll(at(10, 16, 40))
    assert (broken.feed_errors, broken.entries_new) == (1, 0)
    assert session.exec(select(JmaFeed)).one().failures == 1

    jma.failures["/developer/xml/data/vxse51_chiba_5lower.xml"] = 1
    waiting = replay.poll(at(10, 16, 45))
    # The first bulletin failed to download: the cancellation after it waits rather than run first.
    assert (waiting.entries_new, waiting.bulletins_decided) == (2, 0)
    assert replay.fetches("vxse51_cancel.xml") == 0

    replay.restart()  # a new process: what was seen is in the database, not in memory
    resumed = replay.poll(at(10, 16, 50))
    assert resumed.entries_new == 0 and resumed.not_modified == 1
    assert resumed.decisions == ["schedule_round/threshold_met", "cancel_pending/cancelled_before_send"]

    replay.restart()
    assert replay.poll(at(10, 17, 30)).decisions == []
    assert replay.fetches("vxse51_chiba_5lower.xml") == 2 and replay.fetches("vxse51_cancel.xml") == 1
    assert len(decisions(session)) == 2


def test_a_bulletin_that_keeps_failing_is_set_aside(replay, jma, session):
    replay.publish(QUAKE_51, CITIES)
    jma.failures["/developer/xml/data/vxse51_chiba_5lower.xml"] = 10
    for second in range(3):
        replay.poll(at(10, 20, 10 + second))
    entries = {e.link.rsplit("/", 1)[-1]: e for e in session.exec(select(JmaFeedEntry))}
    assert entries["vxse51_chiba_5lower.xml"].state == "failed"
    assert entries["vxse51_chiba_5lower.xml"].attempts == 3
    assert entries["vxse53_chiba_cities.xml"].state == "done"  # decided once the first was set aside


def test_bulletins_only_from_allowed_hosts(replay, session):
    replay.settings = replay.settings.model_copy(
        update={"feeds_bulletin_hosts": ["www.data.jma.go.jp"], "feeds_max_attempts": 1}
    )
    replay.restart()
    replay.publish(QUAKE_51)
    result = replay.poll(at(10, 16, 40))
    assert result.bulletins_failed == 1 and replay.fetches("vxse51_chiba_5lower.xml") == 0
    (entry,) = session.exec(select(JmaFeedEntry)).all()
    assert "BCP_FEEDS_BULLETIN_HOSTS" in entry.error


@requires_shared
def test_recorded_feeds_parse():
    eqvol = parse_feed((SHARED_FEEDS / "eqvol_20260106.xml").read_bytes())
    assert len(eqvol) == 68
    assert sum(e.title in ("震度速報", "震源・震度に関する情報") for e in eqvol) == 29
    assert eqvol[0].updated <= eqvol[-1].updated  # oldest first
    assert all(e.link.startswith("https://www.data.jma.go.jp/developer/xml/data/") for e in eqvol)
    old = parse_feed((SHARED_FEEDS / "eqvol_20200725.xml").read_bytes())
    assert len(old) == 23 and old[0].entry_id.startswith("urn:uuid:")
    extra = parse_feed(gzip.decompress((SHARED_FEEDS / "extra_l_20220714.xml.gz").read_bytes()))
    assert len(extra) == 3647
    assert sum(e.title == "気象警報・注意報（Ｈ２７）" for e in extra) == 1518


def test_own_feed_parses_oldest_first():
    feed = parse_feed((OWN_FEEDS / "eqvol_sample.xml").read_bytes())
    assert len(feed) == 6
    assert [e.updated for e in feed] == sorted(e.updated for e in feed)
    assert feed[0].title == "火山の状況に関する解説情報" and feed[0].author == "福岡管区気象台"
    assert sum(e.title in ("震度速報", "震源・震度に関する情報") for e in feed) == 3
    assert all(e.link.startswith("https://www.data.jma.go.jp/developer/xml/data/") for e in feed)
    # The long feeds are served gzip-compressed; the same entries read the same through gzip.
    again = parse_feed(gzip.decompress(gzip.compress((OWN_FEEDS / "eqvol_sample.xml").read_bytes())))
    assert again == feed


def test_not_a_feed():
    with pytest.raises(FeedError, match="Atom"):
        parse_feed(b"<html/>")
    with pytest.raises(FeedError, match="DTD"):
        parse_feed(b'<!DOCTYPE x [<!ENTITY a "b">]><feed xmlns="http://www.w3.org/2005/Atom"/>')
