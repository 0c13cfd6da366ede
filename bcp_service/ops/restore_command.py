"""The whole of ``bcp-service db restore``: read the provider's record, restore, upgrade, reconcile.

The provider's record is read first: when it cannot be read the database is left as it was (unless
``--skip-provider``), since a restored round without it would send again what the provider already sent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from bcp_service import migrations
from bcp_service.config import Settings
from bcp_service.db import make_engine, make_session_factory, unit_of_work
from bcp_service.locking import take_write_lock
from bcp_service.models import ServiceHeartbeat
from bcp_service.models.base import utcnow
from bcp_service.ops.backup import BackupError, BackupInfo, restore
from bcp_service.ops.restore import RestoreReport, journal_replies, reconcile
from notifiers.twilio_records import ProviderRecord, list_since


class RestoreRefused(RuntimeError):
    pass


def live_processes(engine, settings: Settings) -> list[str]:
    """Workers and schedulers beating now: a restore under them would be overwritten or resent from."""
    cutoff = utcnow() - timedelta(seconds=settings.heartbeat_stale_seconds)
    try:
        with make_session_factory(engine, read_only=True)() as session:
            rows = session.exec(select(ServiceHeartbeat).where(ServiceHeartbeat.beat_at >= cutoff)).all()
    except Exception:  # an empty or broken database has nobody beating in it
        return []
    return sorted(r.name for r in rows if r.stopped_at is None and r.name in ("worker", "scheduler", "feeds"))


def provider_records(settings: Settings, since, transport=None) -> list[ProviderRecord]:
    if settings.notifier != "twilio":
        return []
    return asyncio.run(
        list_since(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            since=since,
            base_url=settings.twilio_base_url,
            transport=transport,
        )
    )


def run_restore(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    skip_provider: bool = False,
    records: list[ProviderRecord] | None = None,
) -> RestoreReport:
    engine = make_engine(settings.database_url)
    try:
        busy = live_processes(engine, settings)
        if busy and not force:
            raise RestoreRefused(
                f"動いているプロセスがあります（{', '.join(busy)}）。止めてから復元してください（--force で強行）"
            )
        try:
            info = BackupInfo.load(Path(path))
        except BackupError as exc:
            raise RestoreRefused(str(exc)) from exc
        if records is None and not skip_provider:
            try:
                records = provider_records(settings, info.taken_at)
            except Exception as exc:
                raise RestoreRefused(
                    f"送信業者の記録を読めませんでした（{type(exc).__name__}）。データベースは変更していません。"
                    "再試行するか、--skip-provider で記録なしに復元してください"
                ) from exc
        try:
            restore(engine, Path(path), pg_restore=settings.pg_restore_path)
        except BackupError as exc:
            raise RestoreRefused(str(exc)) from exc
        migrations.upgrade(engine)  # a backup of an older release is brought to this release's schema
        journal = journal_replies(Path(settings.data_dir) / "journal", since=info.taken_at)
        with unit_of_work(make_session_factory(engine)) as session:
            take_write_lock(session)
            return reconcile(
                session,
                backup_taken_at=info.taken_at,
                records=records or [],
                journal=journal,
                source=f"file {Path(path).name}" + ("; provider not read" if skip_provider else ""),
            )
    finally:
        engine.dispose()
