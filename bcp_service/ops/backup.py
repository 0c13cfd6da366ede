"""``bcp-service db backup`` and ``restore``: SQLite's online backup API, PostgreSQL's pg_dump (custom format).

Each backup has a small sidecar ``<file>.json`` with the time it was taken (before its snapshot began,
so what it holds is at least that recent), the engine and the schema revision; ``restore`` reads it
to know which later activity the provider's record must make up for (``ops/restore.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from bcp_service import migrations
from bcp_service.models.base import utcnow


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why in Japanese."""


@dataclass
class BackupInfo:
    taken_at: datetime
    engine: str
    revision: list[str]

    def save(self, path: Path) -> None:
        sidecar(path).write_text(
            json.dumps({"taken_at": self.taken_at.isoformat(), "engine": self.engine, "revision": self.revision}),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path: Path) -> BackupInfo:
        try:
            data = json.loads(sidecar(path).read_text(encoding="utf-8"))
            return cls(
                taken_at=datetime.fromisoformat(data["taken_at"]),
                engine=data["engine"],
                revision=list(data.get("revision", [])),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise BackupError(
                f"バックアップの記録 {sidecar(path).name} が読めません（取得時刻が分かりません）"
            ) from exc


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def backup(engine: Engine, path: Path, *, pg_dump: str = "pg_dump") -> BackupInfo:
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} は既にあります。別の名前を指定してください（上書きしません）")
    path.parent.mkdir(parents=True, exist_ok=True)
    info = BackupInfo(taken_at=utcnow(), engine=engine.dialect.name, revision=sorted(migrations.current_heads(engine)))
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine))
        target = sqlite3.connect(path)
        try:
            source.backup(target)  # one step: a consistent snapshot, while the service keeps writing
        finally:
            target.close()
            source.close()
    else:
        _run([pg_dump, "--format=custom", "--no-owner", f"--file={path}", _libpq_url(engine)], "pg_dump", engine)
    os.chmod(path, 0o600)  # personal data
    info.save(path)
    return info


def restore(engine: Engine, path: Path, *, pg_restore: str = "pg_restore") -> BackupInfo:
    """Replace the database's contents with the backup's (every process of the service stopped)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"バックアップ {path} が見つかりません")
    info = BackupInfo.load(path)
    if info.engine != engine.dialect.name:
        raise BackupError(f"{info.engine} のバックアップは {engine.dialect.name} に戻せません")
    engine.dispose()  # no pooled connection of ours holds the old contents
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(engine), timeout=30)
        try:
            source.backup(target)  # through SQLite's pager: the WAL and other connections stay consistent
        finally:
            target.close()
            source.close()
    else:
        _run(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={_libpq_url(engine)}",
                str(path),
            ],
            "pg_restore",
            engine,
        )
    return info


def _sqlite_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("メモリ上の SQLite はバックアップできません")
    return database


def _libpq_url(engine: Engine) -> str:
    """The URL without its password (it goes in PGPASSWORD: a command line is visible to every user)."""
    return engine.url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], name: str, engine: Engine) -> None:
    env = dict(os.environ)
    if engine.url.password:
        env["PGPASSWORD"] = str(engine.url.password)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=6 * 3600, check=False, env=env)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{name} が見つかりません（PostgreSQL のクライアントを入れるか BCP_PG_DUMP_PATH / "
            f"BCP_PG_RESTORE_PATH を設定してください）"
        ) from exc
    if done.returncode != 0:
        # The first line of the tool's own message (no connection string is in it).
        first = next((line for line in done.stderr.splitlines() if line.strip()), "")
        raise BackupError(f"{name} が失敗しました（終了コード {done.returncode}）: {first[:300]}")
