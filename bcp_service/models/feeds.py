"""JMA Atom feeds polled (``bcp-service feeds``): each feed's conditional-GET state and every entry seen.

An entry row is written when the feed first lists it and marked done in the same transaction as
the trigger decision on its bulletin, so a poller that dies or restarts neither misses nor
repeats a bulletin (docs/feeds.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class EntryState(StrEnum):
    new = "new"  # listed by the feed, bulletin not decided yet (fetch failed or not tried)
    done = "done"  # bulletin fetched and decided on (trigger_report rows)
    failed = "failed"  # given up: not a usable bulletin, or fetching failed too often


class JmaFeed(SQLModel, table=True):
    __tablename__ = "jma_feed"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500, unique=True)
    etag: str | None = Field(default=None, max_length=200)
    last_modified: str | None = Field(default=None, max_length=100)
    polled_at: datetime | None = timestamp_field()
    ok_at: datetime | None = timestamp_field()
    error: str | None = Field(default=None, max_length=500)
    failures: int = 0  # consecutive failed polls


class JmaFeedEntry(SQLModel, table=True):
    __tablename__ = "jma_feed_entry"
    __table_args__ = (Index("ix_jma_feed_entry_state_updated", "state", "updated"),)

    id: int | None = Field(default=None, primary_key=True)
    # The bulletin's URL is the key: the high-frequency and long-period feeds list the same bulletin.
    link: str = Field(max_length=500, unique=True)
    entry_id: str = Field(max_length=500)
    feed_id: int = Field(foreign_key="jma_feed.id")
    title: str = Field(max_length=200)
    updated: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    seen_at: datetime = created_at_field()
    state: str = Field(default=EntryState.new, max_length=10)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=500)
    done_at: datetime | None = timestamp_field()
    report_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
