"""The JMA feed poller: conditional GET of each feed, each new bulletin fetched once and decided on.

Exactly once, across errors and restarts:

- A feed's ETag / Last-Modified are saved in the same transaction as the entries it listed, so a
  poller that dies before that commit reads the whole feed again next time.
- An entry (keyed by its bulletin URL) is claimed ``UPDATE ... SET state='done' WHERE state='new'``
  in the transaction that records the trigger decision on it: both commit or neither does, and
  a second poller's claim matches nothing.
- Entries are decided oldest first; when a bulletin cannot be fetched, later ones wait for it
  (a cancellation must not be read before what it cancels) until it has failed
  ``feeds_max_attempts`` times and is set aside as failed.

No database connection is held while waiting on the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bcp_service.config import Settings
from bcp_service.feeds.atom import FeedEntry, FeedError, parse_feed
from bcp_service.locking import take_write_lock
from bcp_service.models import JmaFeed, JmaFeedEntry
from bcp_service.models.base import utcnow
from bcp_service.models.feeds import EntryState
from bcp_service.triggers import service
from bcp_service.triggers.jma import MAX_BULLETIN_BYTES, JmaParseError

log = logging.getLogger("bcp_service.feeds")
BATCH = 50


@dataclass
class PollResult:
    feeds_polled: int = 0
    not_modified: int = 0
    feed_errors: int = 0
    entries_new: int = 0
    bulletins_decided: int = 0
    bulletins_failed: int = 0
    decisions: list[str] = field(default_factory=list)
    """action/reason of each decision, in order (for the log line and tests)."""


class FeedPoller:
    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        settings: Settings,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.client = client or httpx.Client(
            timeout=settings.feeds_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": "bcp-service feeds (+safety checks for home ventilator users)"},
        )
        self.titles = frozenset(settings.feeds_titles)

    def run_once(self) -> PollResult:
        result = PollResult()
        for url in self.settings.feeds_urls:
            self.poll_feed(url, result)
        self.process_entries(result)
        log.info(
            "feeds.polled",
            extra={
                "feeds": result.feeds_polled,
                "not_modified": result.not_modified,
                "feed_errors": result.feed_errors,
                "new": result.entries_new,
                "decided": result.bulletins_decided,
                "failed": result.bulletins_failed,
            },
        )
        return result

    def poll_feed(self, url: str, result: PollResult) -> None:
        with self.session_factory() as session:
            feed = self._feed_row(session, url)
            headers = {}
            if feed.etag:
                headers["If-None-Match"] = feed.etag
            if feed.last_modified:
                headers["If-Modified-Since"] = feed.last_modified
            feed_id = feed.id
        result.feeds_polled += 1
        try:
            response = self.client.get(url, headers=headers)
            if response.status_code == 304:
                result.not_modified += 1
                self._feed_ok(feed_id, etag=None, last_modified=None)
                return
            response.raise_for_status()
            entries = [e for e in parse_feed(response.content) if e.title in self.titles]
        except (httpx.HTTPError, FeedError) as exc:
            result.feed_errors += 1
            self._feed_failed(feed_id, f"{type(exc).__name__}: {exc}")
            log.warning("feeds.poll_failed", extra={"feed_id": feed_id, "error": type(exc).__name__})
            return
        result.entries_new += self._store_entries(feed_id, entries, response.headers)

    def _feed_row(self, session: Session, url: str) -> JmaFeed:
        feed = session.exec(select(JmaFeed).where(JmaFeed.url == url)).first()
        if feed is None:
            take_write_lock(session)
            feed = JmaFeed(url=url)
            session.add(feed)
            try:
                session.commit()
            except IntegrityError:  # another poller added it first
                session.rollback()
                feed = session.exec(select(JmaFeed).where(JmaFeed.url == url)).one()
        return feed

    def _store_entries(self, feed_id: int, entries: list[FeedEntry], headers: httpx.Headers) -> int:
        now = self.clock()
        with self.session_factory() as session:
            take_write_lock(session)
            links = [e.link for e in entries]
            known: set[str] = set()
            for start in range(0, len(links), 500):
                known.update(
                    session.exec(
                        select(JmaFeedEntry.link).where(col(JmaFeedEntry.link).in_(links[start : start + 500]))
                    ).all()
                )
            fresh = [e for e in entries if e.link not in known]
            for entry in fresh:
                session.add(
                    JmaFeedEntry(
                        link=entry.link,
                        entry_id=entry.entry_id,
                        feed_id=feed_id,
                        title=entry.title,
                        updated=entry.updated,
                        seen_at=now,
                    )
                )
            session.execute(
                update(JmaFeed)
                .where(JmaFeed.id == feed_id)
                .values(
                    etag=(headers.get("etag") or None),
                    last_modified=(headers.get("last-modified") or None),
                    polled_at=now,
                    ok_at=now,
                    error=None,
                    failures=0,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                # Another poller stored some of them; its commit wins and ours is read again next time.
                session.rollback()
                log.info("feeds.store_raced", extra={"feed_id": feed_id})
                return 0
        return len(fresh)

    def _feed_ok(self, feed_id: int, *, etag: str | None, last_modified: str | None) -> None:
        now = self.clock()
        with self.session_factory() as session:
            take_write_lock(session)
            session.execute(
                update(JmaFeed).where(JmaFeed.id == feed_id).values(polled_at=now, ok_at=now, error=None, failures=0)
            )
            session.commit()

    def _feed_failed(self, feed_id: int, error: str) -> None:
        with self.session_factory() as session:
            take_write_lock(session)
            session.execute(
                update(JmaFeed)
                .where(JmaFeed.id == feed_id)
                .values(polled_at=self.clock(), error=error[:500], failures=JmaFeed.failures + 1)
            )
            session.commit()

    def process_entries(self, result: PollResult) -> None:
        with self.session_factory() as session:
            pending = session.exec(
                select(JmaFeedEntry.id, JmaFeedEntry.link)
                .where(JmaFeedEntry.state == EntryState.new.value)
                .order_by(JmaFeedEntry.updated, JmaFeedEntry.id)
                .limit(BATCH)
            ).all()
        for entry_id, link in pending:
            try:
                body = self._fetch(link)
            except (httpx.HTTPError, ValueError) as exc:
                if not self._fetch_failed(entry_id, f"{type(exc).__name__}: {exc}"):
                    break  # keep the order: later bulletins wait for this one
                result.bulletins_failed += 1
                continue
            self._decide(entry_id, body, result)

    def _fetch(self, link: str) -> bytes:
        host = urlsplit(link).hostname or ""
        if host not in self.settings.feeds_bulletin_hosts:
            raise ValueError(f"bulletin host '{host}' is not in BCP_FEEDS_BULLETIN_HOSTS")
        with self.client.stream("GET", link) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BULLETIN_BYTES:
                    raise ValueError(f"bulletin over {MAX_BULLETIN_BYTES} bytes")
        return body

    def _fetch_failed(self, entry_id: int, error: str) -> bool:
        """Count a failed fetch; True when the entry is now given up."""
        with self.session_factory() as session:
            take_write_lock(session)
            entry = session.get(JmaFeedEntry, entry_id)
            entry.attempts += 1
            entry.error = error[:500]
            gave_up = entry.attempts >= self.settings.feeds_max_attempts
            if gave_up:
                entry.state = EntryState.failed.value
                entry.done_at = self.clock()
            session.add(entry)
            session.commit()
        log.warning("feeds.fetch_failed", extra={"entry": entry_id, "gave_up": gave_up})
        return gave_up

    def _decide(self, entry_id: int, body: bytes, result: PollResult) -> None:
        now = self.clock()
        with self.session_factory() as session:
            take_write_lock(session)
            claimed = session.execute(
                update(JmaFeedEntry)
                .where(JmaFeedEntry.id == entry_id, JmaFeedEntry.state == EntryState.new.value)
                .values(state=EntryState.done.value, done_at=now, attempts=JmaFeedEntry.attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                session.rollback()
                return
            known = service.list_municipality_codes(session=session)
            try:
                received = service.read_jma_reports(body, known=known, keep_raw=self.settings.trigger_keep_raw)
            except JmaParseError as exc:
                session.execute(
                    update(JmaFeedEntry)
                    .where(JmaFeedEntry.id == entry_id)
                    .values(state=EntryState.failed.value, error=str(exc)[:500])
                )
                session.commit()
                result.bulletins_failed += 1
                log.warning("feeds.bulletin_unusable", extra={"entry": entry_id})
                return
            decisions = service.receive_all(
                session=session, received=received, settings=self.settings, now=now, received_by="system:feeds"
            )
            session.execute(
                update(JmaFeedEntry)
                .where(JmaFeedEntry.id == entry_id)
                .values(report_ids=[d.report_id for d, _ in decisions])
            )
            session.commit()
        result.bulletins_decided += 1
        result.decisions.extend(f"{d.action}/{d.reason}" for d, _ in decisions)
