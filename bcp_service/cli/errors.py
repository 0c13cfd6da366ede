"""What the command line says when something fails: one Japanese line with what to do, never a traceback.

A traceback can carry SQL parameters and local variables (a new user's password hash once reached
the terminal that way). ``BCP_CLI_TRACEBACK=1`` shows the full traceback to a developer who asks.
"""

from __future__ import annotations

import logging
import os
import sys

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bcp_service.errors import ServiceError

log = logging.getLogger("bcp_service.cli")


SETTINGS_EXIT = 2  # a setting is wrong: as a usage error, not a failure of the run


def is_settings_error(exc: BaseException) -> bool:
    return isinstance(exc, ValidationError) and exc.title == "Settings"


def explain_settings(exc: ValidationError) -> str:
    """The settings' own messages (what is wrong, what works), one per problem; never the value given,
    which may be a secret."""
    lines = ["エラー: 設定（環境変数 BCP_…）が正しくありません。次を直してから、もう一度実行してください。"]
    for error in exc.errors(include_input=False, include_url=False):
        name = "BCP_" + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {name}: {message}" if name and name not in message else f"  - {message}")
    return "\n".join(lines)


def explain(exc: BaseException) -> str:
    if is_settings_error(exc):
        return explain_settings(exc)  # type: ignore[arg-type]
    if isinstance(exc, ServiceError):
        return f"エラー: {exc.message}"
    if isinstance(exc, IntegrityError):
        return "エラー: 既にあるデータと重複するか、整合しません。内容を確認してからもう一度実行してください。"
    if isinstance(exc, OperationalError):
        text = str(getattr(exc, "orig", exc)).lower()
        if "locked" in text or "busy" in text:
            return "エラー: データベースが他の処理で使用中です。少し待ってからもう一度実行してください。"
        if "no such table" in text or ("does not exist" in text and "relation" in text):
            return (
                "エラー: データベースがまだ作成されていません。先に `bcp-service db upgrade` を実行してください"
                "（接続先は BCP_DATABASE_URL）。"
            )
        return "エラー: データベースに接続できません。BCP_DATABASE_URL とデータベースの状態を確認してください。"
    if isinstance(exc, DBAPIError):
        return "エラー: データベースの処理に失敗しました。`bcp-service db upgrade` の実行と BCP_DATABASE_URL を確認してください。"
    if isinstance(exc, FileNotFoundError):
        return f"エラー: ファイルが見つかりません: {exc.filename}"
    if isinstance(exc, PermissionError):
        return f"エラー: ファイルを読み書きする権限がありません: {exc.filename}"
    return f"エラー: 予期しない問題が起きました（{type(exc).__name__}）。もう一度実行し、続く場合は管理者に連絡してください。"


def run(app) -> None:
    """Run the Typer app; turn any failure into one line on stderr and exit status 1 (2: a wrong setting,
    with the setting's own message)."""
    try:
        app()
    except KeyboardInterrupt:
        print("中断しました。", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:
        if os.environ.get("BCP_CLI_TRACEBACK") == "1":
            raise
        if logging.getLogger().handlers:  # a command that logs (worker, scheduler) keeps a record, type only
            log.error("cli.failed", extra={"error_type": type(exc).__name__})
        print(explain(exc), file=sys.stderr)
        raise SystemExit(SETTINGS_EXIT if is_settings_error(exc) else 1) from None
