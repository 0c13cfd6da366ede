"""The system status that never fails: which part is down, read part by part.

``GET /api/v1/system/status`` gave a generic 500 during an outage (issue 28). Each part is read on its
own here and a failing part becomes a finding (``down``), named in Japanese for the pages: the database
(unreadable or unwritable), the webhook journal, the provider (a lane paused, or refusing with 429),
and components whose heartbeat went silent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from bcp_service.admission import is_busy
from bcp_service.db_outage import is_outage
from bcp_service.heartbeat import SystemStatus, read_system_status
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.ops import health
from bcp_service.webhooks.journal import journal_for

log = logging.getLogger("bcp_service.ops")
COMPONENT_LABELS = {"scheduler": "スケジューラ", "worker": "送信ワーカー", "feeds": "気象庁フィード", "api": "API"}


class DownPart(BaseModel):
    part: str = Field(description="database | journal | provider | a component's name")
    state: str = Field(description="unreadable, unwritable, paused, throttled, stale...")
    since: datetime | None = None
    message: str = Field(description="what is wrong, in Japanese, for the pages")


class OpsStatus(SystemStatus):
    database: str = Field(description="ok | busy | unwritable | unreadable")
    journal: dict = Field(default_factory=dict, description="writable, files, entries, oldest_at, free_bytes")
    throttled_messages: int = Field(default=0, description="messages waiting because the provider answered 429")
    down: list[DownPart] = Field(default_factory=list)


def read_status(app, *, database_probe: health.DatabaseHealth | None = None) -> OpsStatus:
    """``database_probe``: the write probe already made in this request (``/ops``): not made twice.

    Otherwise the probe runs in a unit of work of its own: on SQLite that waits for the write lock, so the
    caller's own session must not hold it (a request's credential touch is written apart: auth/deps.py)."""
    settings = app.state.settings
    now = utcnow()
    database = health.DatabaseHealth()
    base: SystemStatus | None = None
    throttled = 0
    try:
        with app.state.read_unit_of_work() as session:
            base = read_system_status(session=session, stale_after_seconds=settings.heartbeat_stale_seconds, now=now)
            throttled = count_throttled(session, now=now)
    except Exception as exc:
        if not is_outage(exc):
            raise
        database = health.DatabaseHealth(readable=False, writable=False, error=type(exc).__name__)
    if database.readable and database_probe is not None:
        database = database_probe
    elif database.readable:
        try:
            # Its wait for SQLite's write lock is bounded (shed_wait_seconds), then "busy" (issue 29.3).
            with app.state.short_unit_of_work() as session:
                database = health.check_write(session, min_free_mb=settings.health_min_free_mb)
        except DBAPIError as exc:  # the unit of work's own begin or commit was refused
            database = (
                health.DatabaseHealth(busy=True, error="busy")
                if is_busy(exc)
                else health.DatabaseHealth(writable=False, error=type(exc).__name__)
            )
    journal = health.check_journal(journal_for(app), min_free_mb=settings.health_min_free_mb)
    if base is None:
        base = SystemStatus(
            ok=False, checked_at=now, stale_after_seconds=settings.heartbeat_stale_seconds, components=[]
        )
    status = OpsStatus(
        **base.model_dump(exclude={"throttled_messages"}),
        database=database.state,
        journal=journal.public(),
        throttled_messages=throttled,
    )
    status.down = find_down(status, database, journal)
    status.ok = status.ok and not status.down
    if status.down:
        log.info("system.status_down", extra={"parts": ",".join(f"{d.part}:{d.state}" for d in status.down)})
    return status


def count_throttled(session, *, now: datetime) -> int:
    """Messages held back now because the provider refused them with 429 (nothing was sent)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.state == MessageState.queued.value,
                OutboxMessage.throttled > 0,
                col(OutboxMessage.next_attempt_at) > now,
            )
        ).one()
    )


def find_down(status: OpsStatus, database: health.DatabaseHealth, journal: health.JournalHealth) -> list[DownPart]:
    down = []
    if not database.readable:
        down.append(
            DownPart(
                part="database",
                state="unreadable",
                since=status.database_unwritable_since,
                message="データベースを読み出せません。データベースの稼働と接続を確認してください。",
            )
        )
    elif not database.writable:
        reason = "空き容量が不足しています" if database.error == "disk_low" else "書き込みが拒否されています"
        down.append(
            DownPart(
                part="database",
                state="unwritable",
                since=status.database_unwritable_since,
                message=f"データベースに書き込めません（{reason}）。回答は受信記録に保存されます。",
            )
        )
    elif database.busy:
        down.append(
            DownPart(
                part="database",
                state="busy",
                message="データベースが混み合っていて、書き込みをすぐには確認できませんでした（書き込み待ち）。"
                "回答と受信記録は優先して受け付けています。",
            )
        )
    if not journal.writable or status.journal_unwritable_since:
        if journal.fallback_writable:
            message = "受信記録（ジャーナル）に書き込めません。予備の保存先に記録しています。"
        else:
            message = (
                "受信記録（ジャーナル）に書き込めません。データベースも止まると、返信と配信状況は受け付けず"
                "（503）、Twilio の再送を待ちます。"
            )
        down.append(
            DownPart(part="journal", state="unwritable", since=status.journal_unwritable_since, message=message)
        )
    if status.webhooks_refused:  # issue 28.3: answered 503, Twilio retries them (#rc=/#rp= on the URLs)
        down.append(
            DownPart(
                part="webhooks",
                state="refused",
                since=status.webhooks_refused_last_at,
                message=f"返信・配信状況 {status.webhooks_refused} 件を保存できず 503 で断りました"
                "（Twilio が再送します）。最後の拒否",
            )
        )
    lanes = []
    for component in status.components:
        for instance in component.instances:
            if instance.alive:
                lanes += [lane for lane in instance.info.get("lanes_down", []) if lane not in lanes]
    if status.provider_unavailable_since or lanes:
        names = "、".join(lanes) or "全経路"
        down.append(
            DownPart(
                part="provider",
                state="paused",
                since=status.provider_unavailable_since,
                message=f"送信業者が応答しないため送信を一時停止しています（{names}）。",
            )
        )
    for pause in status.lanes_paused:  # an account or sender problem (issue 26.1): resumes on a probe or an admin
        down.append(
            DownPart(
                part="provider",
                state="account",
                since=pause.paused_at,
                message=f"{pause.lane_label}の送信を一時停止しています: {pause.cause}",
            )
        )
    if status.throttled_messages:
        down.append(
            DownPart(
                part="provider",
                state="throttled",
                message=f"送信業者が送信を制限しています（429）。{status.throttled_messages}件が再送待ちです。",
            )
        )
    if database.readable:
        for component in status.components:
            if component.stale and component.name in ("scheduler", "worker"):
                label = COMPONENT_LABELS.get(component.name, component.name)
                down.append(
                    DownPart(
                        part=component.name,
                        state="stale",
                        since=component.last_beat_at,
                        message=f"{label}の動作が確認できません（停止中、またはデータベース待ち）。",
                    )
                )
    return down
