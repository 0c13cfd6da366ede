"""Japanese error pages for the browser routes; the API keeps its JSON errors."""

from __future__ import annotations

from functools import lru_cache

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from bcp_service.registry.validation import reason
from bcp_service.security import TOO_LARGE
from bcp_service.templating import render
from bcp_service.typed_input import japanese_only

# Paths whose callers are programs (API clients, Twilio, load balancers): they get JSON.
API_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/openapi.json", "/metrics")  # /metrics: ops (a scraper gets 401)

PAGES = {
    403: (
        "権限がありません",
        "このページを開く権限がありません。別のアカウントでログインするか、管理者にお問い合わせください。",
    ),
    404: (
        "ページが見つかりません",
        "お探しのページは見つかりませんでした。アドレスが正しいか、リンク元をご確認ください。",
    ),
    422: ("入力内容を確認してください", "入力内容に誤りがあります。"),
    413: ("入力内容が長すぎます", "入力した内容が長すぎます。短くしてから、もう一度送ってください。"),
    405: ("この操作はできません", "このページではこの操作を受け付けていません。ホームからやり直してください。"),
    500: (
        "システムエラー",
        "処理中にエラーが発生しました。少し待ってからもう一度お試しください。"
        "続く場合は管理者にご連絡ください（入力した内容は保存されていない可能性があります）。",
    ),
    # quiet (issue 28.4): a database outage met by a page.
    503: (
        "一時的に利用できません",
        "データベースに接続できないか書き込めません。少し待ってからもう一度お試しください"
        "（入力した内容は保存されていない可能性があります）。",
    ),
}
# shed (issue 29.3): too many requests at once; nothing is wrong, the person tries again shortly.
BUSY_HEADING = "ただいま混み合っています"
BUSY_MESSAGE = (
    "アクセスが集中しているため、このリクエストを処理できませんでした。{seconds}秒ほど待ってからもう一度お試しください"
    "（入力した内容は保存されていません）。安否の回答や訪問看護の結果の記録は優先して受け付けています。"
)
BUSY_API = "混み合っているため処理できませんでした。Retry-After の秒数の後に再送してください (server busy, retry later)"


def wants_page(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def error_page(status: int, message: str | None = None, headers: dict | None = None) -> HTMLResponse:
    heading, default = PAGES.get(
        status, PAGES[500] if status >= 500 else ("エラー", "リクエストを処理できませんでした。")
    )
    html = render(
        "web/error.html",
        principal=None,
        role_label="",
        heading=heading,
        message=japanese_only(message or default),
        status=status,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def busy_response(path: str, retry_after: int) -> HTMLResponse | JSONResponse:
    """503 with ``Retry-After`` for a request shed under load: a Japanese page, or JSON for programs."""
    headers = {"Retry-After": str(retry_after), "Cache-Control": "no-store"}
    if not path.startswith(API_PREFIXES):
        return HTMLResponse(_busy_html(retry_after), status_code=503, headers=headers)
    return JSONResponse(
        status_code=503,
        headers=headers,
        content={"detail": BUSY_API, "retry_after": retry_after, "down": [{"part": "database", "state": "busy"}]},
    )


@lru_cache(maxsize=4)
def _busy_html(retry_after: int) -> str:
    # Rendered once: under overload the 503 itself must cost next to nothing.
    return render(
        "web/error.html",
        principal=None,
        role_label="",
        heading=BUSY_HEADING,
        message=BUSY_MESSAGE.format(seconds=retry_after),
        status=503,
    )


def server_error(request: Request, _exc: Exception):
    """Unhandled errors: a page for people, JSON for programs; the traceback is logged by the server."""
    if wants_page(request):
        return error_page(500)
    return JSONResponse(status_code=500, content={"detail": "内部エラーが発生しました (internal server error)"})


FIELD_LABELS = {
    "username": "ユーザー名",
    "password": "パスワード",
    "csrf_token": "フォームの確認用トークン",
    "next": "移動先",
    "state": "状態",
    "hours": "残り時間",
    "note": "メモ",
    "method": "確認方法",
    "client_id": "送信番号",
    "kind": "種類",
    "region_id": "在宅医療圏",
    "hub_id": "連携拠点",
    "therapy": "医療機器",
    "risk_tier": "リスク",
    "evacuated_to": "避難先",
    "power": "電源",
    "name": "名前",
    "title": "件名",
    "comment": "コメント",
    "deadline_hours": "回答期限",
    "interval_hours": "間隔",
    "code": "確認コード",
}


def japanese_message(error: dict) -> str:
    """One validation error from FastAPI/pydantic, for a person at a form: the field, then the rule
    in the same words the CSV import uses."""
    field = next(
        (str(x) for x in reversed(error.get("loc", [])) if isinstance(x, str) and x not in ("body", "query", "path")),
        "",
    )
    # A page shows no English: the reason without its bracketed English, a field without a label as 「入力」.
    return f"{FIELD_LABELS.get(field, '入力')}: {japanese_only(reason(error))}"


def too_large(request: Request, limit: int):
    """A body over the size limit (``security.SecurityMiddleware``): a page for a person, JSON for programs."""
    if wants_page(request):
        return error_page(413)
    return JSONResponse(
        status_code=413, content={"detail": [{"loc": [], "msg": TOO_LARGE.format(limit=limit), "type": "request"}]}
    )


def validation_page(errors: list[dict]) -> HTMLResponse:
    messages = list(dict.fromkeys(japanese_message(e) for e in errors))
    return error_page(422, " ".join(messages) + " 前のページに戻って入力し直してください。")
