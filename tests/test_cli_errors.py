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
    result = _run(
        ["users", "create", "someone", "--role", "admin"],
        f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        stdin="a-long-enough-password\na-long-enough-password\n",
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert lines == [
        "エラー: データベースがまだ作成されていません。先に `bcp-service db upgrade` を実行してください"
        "（接続先は BCP_DATABASE_URL）。"
    ]
    assert "Traceback" not in result.stdout + result.stderr and "argon2" not in result.stdout + result.stderr


def test_explanations():
    locked = OperationalError("INSERT INTO audit_event ...", {"patient_ids": "[1, 2]"}, Exception("database is locked"))
    assert explain(locked).startswith("エラー: データベースが他の処理で使用中です")
    assert "patient_ids" not in explain(locked)
    assert (
        explain(FieldError("ユーザー名は既に使われています", field="username"))
        == "エラー: ユーザー名は既に使われています"
    )
    assert explain(RuntimeError("x")).startswith("エラー: 予期しない問題")


def test_a_wrong_setting_prints_its_own_message_and_exits_2(tmp_path: Path):
    """Issue 26.5: not 「予期しない問題（ValidationError）」 but what is wrong and what works; never the value."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    for command in (["db", "upgrade"], ["worker"]):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BCP_")},
            "BCP_DATABASE_URL": url,
            "BCP_NOTIFIER": "twilio",
            "BCP_TWILIO_ACCOUNT_SID": "ACnot-a-sid",
            "BCP_TWILIO_AUTH_TOKEN": "s3cr3t-token",
            "BCP_TWILIO_SMS_SENDER": "CHIBA",
            "BCP_TWILIO_VOICE_CALLER_ID": "+815011112222",
        }
        result = subprocess.run([COMMAND, *command], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "BCP_TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits)" in result.stderr
        assert "What works:" in result.stderr
        assert "予期しない" not in result.stderr and "Traceback" not in result.stderr
        assert "s3cr3t-token" not in result.stderr
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BCP_")},
        "BCP_DATABASE_URL": url,
        "BCP_SENDER_NAME": "鹿児島県在宅医療連携推進協議会",
    }
    result = subprocess.run([COMMAND, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "BCP_SENDER_NAME: String should have at most 10 characters" in result.stderr
