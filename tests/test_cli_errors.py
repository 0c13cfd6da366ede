"""The command line fails with one Japanese line saying what to do, never a traceback (which can carry
SQL parameters or a password hash)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from bcp_service.cli.errors import explain
from bcp_service.errors import FieldError

COMMAND = str(Path(sys.executable).parent / "bcp-service")


def _run(args: list[str], url: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BCP_")}, "BCP_DATABASE_URL": url}
    return subprocess.run([COMMAND, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_a_database_without_tables_says_to_run_db_upgrade(tmp_path: Path):
    result = _run(["users", "create", "someone", "--role", "admin"], f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                  stdin="a-long-enough-password\na-long-enough-password\n")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert lines == ["エラー: データベースがまだ作成されていません。先に `bcp-service db upgrade` を実行してください"
                     "（接続先は BCP_DATABASE_URL）。"]
    assert "Traceback" not in result.stdout + result.stderr and "argon2" not in result.stdout + result.stderr


def test_explanations():
    locked = OperationalError("INSERT INTO audit_event ...", {"patient_ids": "[1, 2]"}, Exception("database is locked"))
    assert explain(locked).startswith("エラー: データベースが他の処理で使用中です")
    assert "patient_ids" not in explain(locked)
    assert explain(FieldError("ユーザー名は既に使われています", field="username")) == "エラー: ユーザー名は既に使われています"
    assert explain(RuntimeError("x")).startswith("エラー: 予期しない問題")
