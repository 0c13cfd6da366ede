"""The audit log in Japanese for the page: action names, who, what was changed, and what it refers to.

The stored ``detail`` is for the API and the CSV (ids in a short English form, kept for old rows); the
page shows only what ``references`` recognises in it (ラウンド 5・確認 12 …) and the ``changes`` in
Japanese (``changes.describe``), never the raw text.
"""

from __future__ import annotations

import re

from bcp_service.audit.changes import describe
from bcp_service.auth.roles import ROLE_LABELS
from bcp_service.labels import ANSWERED_BY_LABELS, CHANNEL_LABELS
from bcp_service.models import AuditEvent

ACTIONS = {
    "patient.list": "患者一覧の閲覧",
    "patient.read": "患者の閲覧",
    "patient.create": "患者の登録",
    "patient.update": "患者の変更",
    "patient.export": "患者CSVの書き出し",
    "patient.import": "患者CSVの取り込み",
    "institution.import": "施設CSVの取り込み",
    "institution.update": "施設の変更",
    "institution.designations": "施設の指定の変更",
    "institution.hub_municipalities": "連携拠点の担当市町村の変更",
    "region.update": "在宅医療圏の変更",
    "municipality.update": "市町村の変更",
    "user.update": "アカウントの変更",
    "round.start": "安否確認の開始",
    "round.close": "安否確認の終了",
    "round.checks.list": "安否確認の一覧の閲覧",
    "round.check.read": "安否確認の閲覧",
    "round.check.escalation": "連絡手順の閲覧",
    "round.follow_up.list": "要対応一覧の閲覧",
    "round.check.assign": "看護師の割り当て",
    "round.report.export": "安否確認の報告の書き出し",
    "answer.link": "回答（リンク）",
    "answer.sms": "回答（SMS）",
    "answer.voice": "回答（電話）",
    "nurse.list": "看護師の担当一覧の閲覧",
    "nurse.result": "看護師による結果の記録",
    "reply.list": "返信の確認一覧の閲覧",
    "reply.resolve": "返信の確認",
    "board.view": "状況ボードの閲覧",
    "board.print": "状況ボードの印刷",
    "board.live.subscribe": "状況ボードの自動更新",
    "board.export.areas": "地域別集計の書き出し",
    "board.export.priority": "優先対応者一覧の書き出し",
    "board.export.silent": "未回答者一覧の書き出し",
    "board.export.plans": "滞在先一覧の書き出し",
    "schedule.create": "予定の登録",
    "schedule.update": "予定の変更",
    "schedule.delete": "予定の削除",
    "trigger.receive": "地震情報などの受信",
    "trigger.cancel": "自動開始の取り消し",
    "bcp_draft.generate": "BCP案の作成",
    "bcp_draft.read": "BCP案の閲覧",
    "bcp_draft.view": "BCP案の表示",
    "bcp_draft.download": "BCP案のダウンロード",
    "bcp_draft.cli_export": "BCP案の書き出し（コマンド）",
    "audit.read": "監査ログの閲覧",
    "audit.export": "監査ログの書き出し",
    # Credential events (issue 23.2, auth/events.py).
    "auth.token_created": "APIトークンの発行",
    "auth.token_revoked": "APIトークンの無効化",
    "auth.two_factor_enrolled": "二段階認証の登録",
    "auth.two_factor_used": "確認コードでのログイン",
    "auth.recovery_code_used": "回復コードの使用",
    "auth.recovery_codes_renewed": "回復コードの再発行",
    "auth.two_factor_disabled": "二段階認証の解除",
    "auth.password_changed": "パスワードの変更",
    "auth.password_reset": "パスワードの再設定（管理者）",
    "auth.user_disabled": "アカウントの無効化",
    "auth.user_enabled": "アカウントの有効化",
    # The prefecture wall (issue 23.1), paused lanes (26.1), restores (28.3).
    "prefecture.create": "都道府県の追加",
    "region.create": "在宅医療圏の追加",
    "municipality.create": "市町村の追加",
    "outbox.lane_resume": "送信の再開（管理者）",
    "db.restore": "バックアップからの復元",
    "round.join_incident": "安否確認を同じ災害にまとめる",
    # Finished BCP plans (issue 27.8, bcp/plans.py).
    "bcp_plan.upload": "完成したBCPの登録",
    "bcp_plan.download": "完成したBCPのダウンロード",
}
NOUNS = {
    "round": "ラウンド",
    "check": "確認",
    "answer": "回答",
    "schedule": "予定",
    "reply": "返信",
    "user": "アカウント",
    "region": "在宅医療圏",
    "municipality": "市町村",
    "institution": "施設",
    "institution_id": "施設",
    "bcp_draft": "BCP案",
    "bcp_plan": "完成したBCP",
    "trigger record": "発動記録",
    "event": "地震情報",
    "contact": "連絡先",
}
_REFERENCE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, NOUNS), key=len, reverse=True)) + r")\"?[ :=]+(\d+)")
_COUNTS = re.compile(r"created=(\d+) updated=(\d+) unchanged=(\d+)")
_TARGETS = re.compile(r"(\d+) patients")
METHODS = {"GET": "閲覧", "POST": "送信", "PUT": "変更", "PATCH": "変更", "DELETE": "削除"}


def action_label(action: str) -> str:
    return ACTIONS.get(action) or ("その他の操作" if action.isascii() else action)


def who(event: AuditEvent) -> tuple[str, str]:
    """(name, role) as shown: an account and its role label, or who answered by which channel."""
    if event.role:
        return event.username or "", ROLE_LABELS.get(event.role, "")  # type: ignore[call-overload]
    if event.action.startswith("answer.") and event.username and ":" in event.username:
        channel, by = event.username.split(":", 1)
        return f"{CHANNEL_LABELS.get(channel, '')}（{ANSWERED_BY_LABELS.get(by, '不明')}）", "アカウントなし"
    return event.username or "", "コマンド" if event.resource and event.resource.startswith("cli") else ""


def place(event: AuditEvent) -> str:
    """Where it came from: 「画面での閲覧」「APIでの変更」「コマンド」 (the path stays in the CSV and API)."""
    resource = event.resource or ""
    method, _, path = resource.partition(" ")
    if method in METHODS:
        return f"{'API' if path.startswith('/api/') else '画面'}での{METHODS[method]}"
    if resource.startswith("cli"):
        return "コマンド"
    return "受付" if event.action.startswith("answer.") else ""


def references(detail: str | None) -> list[str]:
    if not detail:
        return []
    found = [f"{NOUNS[noun]} {number}" for noun, number in _REFERENCE.findall(detail)]
    if counts := _COUNTS.search(detail):
        found.append("新規 {} 件・更新 {} 件・変更なし {} 件".format(*counts.groups()))
    if targets := _TARGETS.search(detail):
        found.append(f"対象 {targets.group(1)} 人")
    if "drill=True" in detail:
        found.append("訓練")
    return list(dict.fromkeys(found))


def lines(event: AuditEvent) -> list[str]:
    """What the event changed (in Japanese) and what it refers to."""
    kind = event.action.split(".", 1)[0]
    return [describe(kind, change) for change in event.changes or []] + references(event.detail)
