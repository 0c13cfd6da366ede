"""What an operator watches, read from the database at scrape time (so any number of processes agree).

``/metrics`` (Prometheus text, ``prometheus-client``) and the ``/ops`` page both render one ``Snapshot``.
Counters kept in a process would show one API process of two, and reset when it restarts; the outbox,
the heartbeats and the round counters are shared by every process, so the figures come from them.
The alert rules (``deploy/prometheus/rules.yml``) are written against these names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service import lanes, webhook_doors
from bcp_service.clock import aware
from bcp_service.heartbeat import FORGET_AFTER
from bcp_service.models import OutboxMessage, SafetyRound, ServiceHeartbeat
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import RoundState
from bcp_service.ops import health
from bcp_service.rounds.counters import read_counters

RATE_WINDOW = timedelta(seconds=60)
LAG_WINDOW = timedelta(minutes=5)
LAG_SAMPLE = 5000
FINAL = (MessageState.delivered.value, MessageState.undelivered.value, MessageState.failed.value)


@dataclass
class RoundProgress:
    round_id: int
    title: str
    drill: bool
    started_at: datetime
    states: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.states.values())

    @property
    def answered(self) -> int:
        return self.total - self.states.get("no_answer", 0)


@dataclass
class Snapshot:
    taken_at: datetime
    queue: dict[tuple[str, str], int] = field(default_factory=dict)  # (lane, state) -> messages, open rounds
    waiting: dict[tuple[str, str], int] = field(default_factory=dict)  # (lane, queued|sending) -> all rounds
    sent_last_minute: dict[str, int] = field(default_factory=dict)  # lane -> messages
    provider_codes: dict[tuple[str, str], int] = field(default_factory=dict)  # (lane, code) -> messages, open rounds
    throttled: int = 0
    lanes_paused: dict[str, datetime | None] = field(default_factory=dict)
    webhook_lag_avg: float | None = None
    webhook_lag_max: float | None = None
    oldest_unconfirmed_seconds: float | None = None
    heartbeats: list[tuple[str, str, float, bool]] = field(default_factory=list)  # name, instance, age, stopped
    rounds: list[RoundProgress] = field(default_factory=list)
    journal: health.JournalHealth = field(default_factory=lambda: health.JournalHealth(writable=True))
    database_writable: bool = True
    webhooks_refused: int = 0  # this process's (issue 28.3): answered 503, nothing could keep them
    journal_fallback_lines: int = 0  # this process's: lines the second journal location took

    @property
    def send_rate(self) -> dict[str, float]:
        return {lane: n / RATE_WINDOW.total_seconds() for lane, n in self.sent_last_minute.items()}


def read_snapshot(session: Session, *, now: datetime | None = None) -> Snapshot:
    now = now or utcnow()
    snap = Snapshot(
        taken_at=now,
        webhooks_refused=webhook_doors.refused_count(),
        journal_fallback_lines=webhook_doors.fallback_count(),
    )
    open_rounds = session.exec(
        select(SafetyRound).where(SafetyRound.state == RoundState.running.value).order_by(col(SafetyRound.id))
    ).all()
    open_ids = [r.id for r in open_rounds]
    m = OutboxMessage
    for lane, state, n in session.execute(  # the partial indexes of due and claimed rows
        select(m.channel, m.state, func.count())
        .where(col(m.state).in_(("queued", "sending")))
        .group_by(m.channel, m.state)
    ):
        snap.waiting[(lane, state)] = n
    if open_ids:
        in_open = col(m.round_id).in_(open_ids)
        for lane, state, n in session.execute(
            select(m.channel, m.state, func.count()).where(in_open).group_by(m.channel, m.state)
        ):
            snap.queue[(lane, state)] = n
        for lane, n in session.execute(
            select(m.channel, func.count()).where(in_open, col(m.sent_at) >= now - RATE_WINDOW).group_by(m.channel)
        ):
            snap.sent_last_minute[lane] = n
        for lane, code, n in session.execute(
            select(m.channel, m.last_error_code, func.count())
            .where(in_open, col(m.last_error_code).is_not(None))
            .group_by(m.channel, m.last_error_code)
        ):
            snap.provider_codes[(lane, code)] = n
        snap.throttled = int(session.exec(select(func.coalesce(func.sum(m.throttled), 0)).where(in_open)).one())
        lags = [
            (aware(status) - aware(sent)).total_seconds()
            for sent, status in session.execute(
                select(m.sent_at, m.status_at)
                .where(
                    in_open, col(m.state).in_(FINAL), col(m.sent_at).is_not(None), col(m.status_at) >= now - LAG_WINDOW
                )
                .limit(LAG_SAMPLE)
            )
        ]
        if lags:
            snap.webhook_lag_avg, snap.webhook_lag_max = sum(lags) / len(lags), max(lags)
        oldest = session.exec(select(func.min(m.sent_at)).where(in_open, m.state == MessageState.sent.value)).one()
        if oldest is not None:
            snap.oldest_unconfirmed_seconds = (now - aware(oldest)).total_seconds()
    for row in open_rounds:
        counted = read_counters(session=session, round_id=row.id, dimension="all").get("all", {})
        states = next(iter(counted.values()), {})  # the "all" dimension has one key
        snap.rounds.append(RoundProgress(row.id, row.title or f"安否確認 #{row.id}", row.drill, row.started_at, states))
    for beat in session.exec(
        select(ServiceHeartbeat)
        .where(ServiceHeartbeat.beat_at >= now - FORGET_AFTER)
        .order_by(col(ServiceHeartbeat.beat_at).desc())
        .limit(200)
    ).all():
        age = (now - aware(beat.beat_at)).total_seconds()
        snap.heartbeats.append((beat.name, beat.instance_id, age, beat.stopped_at is not None))
        info = beat.info or {}
        if beat.name == "worker" and beat.stopped_at is None and age < 120:
            since = info.get("provider_unavailable_since")
            for lane in info.get("lanes_down", []):
                snap.lanes_paused.setdefault(lane, datetime.fromisoformat(since) if since else None)
    for pause in lanes.list_pauses(session=session):  # account or sender problems (issue 26.1)
        snap.lanes_paused.setdefault(pause.lane, aware(pause.paused_at))
    return snap


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.snap
        g = GaugeMetricFamily(
            "bcp_outbox_waiting_messages", "Messages queued or being sent, all rounds", labels=["lane", "state"]
        )
        for (lane, state), n in sorted(s.waiting.items()):
            g.add_metric([lane, state], n)
        yield g
        g = GaugeMetricFamily(
            "bcp_outbox_messages", "Messages of open rounds by lane and state", labels=["lane", "state"]
        )
        for (lane, state), n in sorted(s.queue.items()):
            g.add_metric([lane, state], n)
        yield g
        g = GaugeMetricFamily(
            "bcp_send_rate_per_second", "Messages sent per second over the last minute (open rounds)", labels=["lane"]
        )
        for lane, rate in sorted(s.send_rate.items()):
            g.add_metric([lane], rate)
        yield g
        g = GaugeMetricFamily(
            "bcp_provider_answers",
            "Messages of open rounds whose last provider answer was this code",
            labels=["lane", "code"],
        )
        for (lane, code), n in sorted(s.provider_codes.items()):
            g.add_metric([lane, code], n)
        yield g
        yield GaugeMetricFamily(
            "bcp_provider_throttled", "429 answers (nothing sent) on messages of open rounds", value=s.throttled
        )
        g = GaugeMetricFamily(
            "bcp_lane_paused", "1 while a live worker has paused the lane (provider refusing)", labels=["lane"]
        )
        for lane in sorted(s.lanes_paused):
            g.add_metric([lane], 1)
        yield g
        if s.webhook_lag_avg is not None:
            yield GaugeMetricFamily(
                "bcp_webhook_lag_seconds_avg", "Send to final status, last 5 minutes", value=s.webhook_lag_avg
            )
            yield GaugeMetricFamily(
                "bcp_webhook_lag_seconds_max", "Send to final status, last 5 minutes (max)", value=s.webhook_lag_max
            )
        if s.oldest_unconfirmed_seconds is not None:
            yield GaugeMetricFamily(
                "bcp_outbox_oldest_unconfirmed_seconds",
                "Age of the oldest sent message with no final status (open rounds)",
                value=s.oldest_unconfirmed_seconds,
            )
        j = s.journal
        yield GaugeMetricFamily(
            "bcp_journal_writable", "1 when the webhook journal takes a line", value=int(j.writable)
        )
        yield GaugeMetricFamily("bcp_journal_entries", "Webhooks journaled and not yet applied", value=j.entries)
        yield GaugeMetricFamily("bcp_journal_files", "Journal files waiting for replay", value=j.files)
        yield CounterMetricFamily(
            "bcp_webhooks_refused",
            "Webhooks answered 503 by this process: neither the "
            "database nor a journal location could keep them (Twilio retries them)",
            value=s.webhooks_refused,
        )
        yield CounterMetricFamily(
            "bcp_journal_fallback_lines",
            "Webhooks this process journaled in the second location because the first refused them",
            value=s.journal_fallback_lines,
        )
        if j.oldest_at is not None:
            yield GaugeMetricFamily(
                "bcp_journal_oldest_age_seconds",
                "Age of the oldest journaled webhook",
                value=(s.taken_at - j.oldest_at).total_seconds(),
            )
        yield GaugeMetricFamily(
            "bcp_database_writable",
            "1 when the database takes a new insert (health probe)",
            value=int(s.database_writable),
        )
        g = GaugeMetricFamily(
            "bcp_heartbeat_age_seconds",
            "Seconds since each running process last beat",
            labels=["component", "instance"],
        )
        for name, instance, age, stopped in s.heartbeats:
            if not stopped:
                g.add_metric([name, instance], age)
        yield g
        g = GaugeMetricFamily(
            "bcp_round_checks", "Checks of each open round by state", labels=["round", "drill", "state"]
        )
        for r in s.rounds:
            for state, n in sorted(r.states.items()):
                g.add_metric([str(r.round_id), str(r.drill).lower(), state], n)
        yield g
        g = GaugeMetricFamily(
            "bcp_round_answered_ratio", "Share of each open round's checks with an answer", labels=["round", "drill"]
        )
        for r in s.rounds:
            g.add_metric([str(r.round_id), str(r.drill).lower()], r.answered / r.total if r.total else 0.0)
        yield g


def exposition(snap: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(registry)
