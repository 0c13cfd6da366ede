"""The outbox: messages written in the same transaction as the round, sent later by workers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class MessageState(StrEnum):
    queued = "queued"
    sending = "sending"  # claimed by a worker; reclaimed if the worker dies
    sent = "sent"  # the provider accepted it
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    cancelled = "cancelled"  # the round closed before it was sent


# A status only ever moves up this ladder: a late "sent" callback never overwrites "delivered".
STATE_RANK = {
    MessageState.queued: 0,
    MessageState.sending: 1,
    MessageState.sent: 2,
    MessageState.delivered: 3,
    MessageState.undelivered: 3,
    MessageState.failed: 3,
    MessageState.cancelled: 3,
}


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        # The claim query walks this in order (critical patients first); only due rows are in it.
        Index(
            "ix_outbox_message_due",
            "priority",
            "id",
            postgresql_where=text("state = 'queued'"),
            sqlite_where=text("state = 'queued'"),
        ),
        Index(
            "ix_outbox_message_sending",
            "claimed_at",
            postgresql_where=text("state = 'sending'"),
            sqlite_where=text("state = 'sending'"),
        ),
        Index("ix_outbox_message_round_state", "round_id", "state"),
        # Null until sent, so only the sent rows are in it (nothing to maintain at round start).
        Index(
            "uq_outbox_message_provider_message_id",
            "provider_message_id",
            unique=True,
            postgresql_where=text("provider_message_id IS NOT NULL"),
            sqlite_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int | None = None
    # Not a foreign key, for the same reason as safety_check's (round start cost): rows come from checks.
    check_id: int | None = Field(default=None, index=True)
    contact_id: int | None = None
    channel: str = Field(default="sms", max_length=10)
    to_number: str = Field(max_length=254)  # the channel's address: E.164, or an e-mail address
    # Message text is rendered at send time from the template; ``body`` is for text with no link.
    template: str | None = Field(default=None, max_length=40)
    body: str | None = Field(default=None, max_length=2000)
    drill: bool = Field(default=False)
    # The answer link's token, kept only until the message has left (see docs/rounds.md).
    answer_token: str | None = Field(default=None, max_length=64)
    answer_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    priority: int = Field(default=2)  # 0 critical, 1 high, 2 standard
    state: str = Field(default=MessageState.queued, max_length=12)
    attempts: int = Field(default=0)  # tries that reached (or may have reached) the provider
    throttled: int = Field(default=0)  # 429 answers: the provider refused before sending
    next_attempt_at: datetime = created_at_field()
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_at: datetime | None = timestamp_field()
    provider_message_id: str | None = Field(default=None, max_length=64)
    last_error_code: str | None = Field(default=None, max_length=20)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = timestamp_field()
    status_at: datetime | None = timestamp_field()


class EarlyStatus(SQLModel, table=True):
    """A status callback that arrived before the worker recorded the provider id (it often does).

    Workers fold these into ``outbox_message`` once the id is known.
    """

    __tablename__ = "early_status"

    provider_message_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=12)
    error_code: str | None = Field(default=None, max_length=20)
    received_at: datetime = created_at_field()


class SendRate(SQLModel, table=True):
    """A token bucket shared by every worker: the provider's limit is per account, not per process."""

    __tablename__ = "send_rate"

    name: str = Field(primary_key=True, max_length=40)
    rate_per_second: float
    burst: float
    tokens: float
    updated_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)


class SendLanePause(SQLModel, table=True):
    """A lane (sms, voice) paused because the provider refuses our account or sender (issue 26.1).

    While the row exists no worker sends on the lane and its messages stay queued; a worker's probe
    that succeeds, or an admin, deletes it. ``reason`` is the notifier's neutral word (``auth``,
    ``account_inactive``, ``geo_permission``, ``sender_not_allowed``...), ``code`` the provider's.
    """

    __tablename__ = "send_lane_pause"

    lane: str = Field(primary_key=True, max_length=10)
    reason: str = Field(max_length=30)
    code: str | None = Field(default=None, max_length=20)
    paused_at: datetime = created_at_field()
    probed_at: datetime | None = timestamp_field()
