"""The simulator's "phones": what each number received, as a page, so a person can play the patient.

``/_sim/phones`` lists the numbers that got messages, newest first; ``/_sim/phones/{number}`` shows
that phone's messages in order, with the answer link to tap (it opens the real answer page of the
service). Simulated data only: the demo's patients are synthetic.
"""

from __future__ import annotations

import asyncio
import html
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from bcp_service.twilio_sim.delivery import ANSWER_LINK, round_title

router = APIRouter(prefix="/_sim/phones", include_in_schema=False)
JST = ZoneInfo("Asia/Tokyo")
STATUS = {
    "queued": "送信待ち",
    "sent": "送信済み",
    "delivered": "配達済み",
    "undelivered": "不達",
    "failed": "失敗",
    "received": "受信",
}
STYLE = """body{font-family:system-ui,sans-serif;margin:1rem;max-width:44rem}a{color:#0b57d0}
.msg{border:1px solid #ccc;border-radius:10px;padding:.6rem .8rem;margin:.5rem 0;white-space:pre-wrap}
.in{background:#eef6ee;margin-left:3rem}.meta{color:#555;font-size:.85rem}
.tap{display:inline-block;margin-top:.4rem;padding:.5rem 1rem;border-radius:8px;background:#0b57d0;color:#fff;text-decoration:none}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}"""


def _page(title: str, body: str, refresh: bool = True) -> HTMLResponse:
    meta = '<meta http-equiv="refresh" content="10">' if refresh else ""
    return HTMLResponse(
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _time(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(JST).strftime("%m/%d %H:%M:%S")


def _phone_of(record: dict) -> str:
    return record["from"] if record.get("direction") == "inbound" else record["to"]


_SEPARATORS = re.compile(r"[\s\-‐‑–—―ーｰ()（）.]")


def normalise_number(text: str) -> str:
    """A number as people write it (090-1234-5678, ０９０‐１２３４‐５６７８, +81 90 ...) in E.164 when it
    is a whole Japanese number, else its digits (a part of a number, for the search)."""
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if compact.startswith("+"):
        return compact
    if compact.startswith("0") and len(compact) >= 10:
        return "+81" + compact[1:]
    return compact


def _national(number: str) -> str:
    return "0" + number[3:] if number.startswith("+81") else number


def _matches(query: str, number: str) -> bool:
    wanted = normalise_number(query)
    return wanted in number or wanted in _national(number)


# What a service message is, from its text (a Twilio stand-in is not told the round): its mark and kind.
_KINDS = (
    ("【事前連絡", "事前連絡"),
    ("【再送】", "安否確認（再送）"),
    ("ご家族", "安否確認（ご家族へ）"),
    ("避難", "避難の確認（同じ災害の追加の質問）"),
    ("安否確認", "安否確認"),
)


def round_mark(body: str) -> str:
    """【訓練】 or 【本番】 for a message from the service (an answer link in it), else ""."""
    if not ANSWER_LINK.search(body):
        return ""
    return "【訓練】" if "【訓練】" in body else "【本番】"


def message_kind(body: str) -> str:
    return next((kind for marker, kind in _KINDS if marker in body), "")


@router.get("", response_class=HTMLResponse)
def phones(request: Request, q: str = Query("", max_length=40), limit: int = Query(100, ge=1, le=1000)) -> HTMLResponse:
    latest: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for record in request.app.state.sim.messages:
        number = _phone_of(record)
        if q.strip() and not _matches(q, number):
            continue
        latest[number] = record
        counts[number] = counts.get(number, 0) + 1
    numbers = sorted(latest, key=lambda n: latest[n]["date_created"], reverse=True)[:limit]
    rows = "".join(
        f'<tr><td><a href="/_sim/phones/{html.escape(n)}">{html.escape(_national(n))}</a>'
        f' <span class="meta">{html.escape(n)}</span></td><td>{counts[n]}</td>'
        f"<td>{html.escape(round_mark(latest[n].get('body') or ''))}{_round_label(latest[n])}"
        f"{html.escape(message_kind(latest[n].get('body') or ''))}</td>"
        f"<td>{_time(latest[n]['date_created'])}</td><td>{STATUS.get(latest[n]['status'], html.escape(latest[n]['status']))}</td>"
        f"<td>{_answered(latest[n])}</td></tr>"
        for n in numbers
    )
    body = (
        f"<h1>シミュレーターの電話 ({len(latest)} 台)</h1>"
        "<p>SMS を受け取った電話番号です（新しい順、10 秒ごとに更新）。番号を開くと、届いたメッセージと回答用リンクが見られます。"
        "リンクを開いて患者さんとして回答できます。</p>"
        f'<form><input name="q" value="{html.escape(q)}" placeholder="番号で絞り込み（090-1234-5678 など）"> '
        "<button>絞り込む</button></form>"
        f"<table><tr><th>番号</th><th>件数</th><th>最新のメッセージ</th><th>最終受信</th><th>状態</th><th>自動回答</th></tr>"
        f"{rows}</table>"
    )
    return _page("シミュレーターの電話", body)


def _answered(record: dict) -> str:
    answers = record.get("answers") or []
    if any(a.get("skipped") for a in answers):
        return "手入力の回答を優先（自動回答なし）"
    return "回答済み" if answers else ""


async def _learn_round_titles(state, records: list[dict]) -> None:
    """Each message's round title, read once from its answer page (a GET changes nothing there) and kept."""

    async def learn(record: dict, url: str) -> None:
        try:
            page = await state._http().get(url, timeout=3.0)
            record["round_title"] = round_title(page.text) if page.is_success else ""
        except Exception:
            return

    pending = [
        (r, m.group(0)) for r in records if "round_title" not in r and (m := ANSWER_LINK.search(r.get("body") or ""))
    ]
    await asyncio.gather(*(learn(r, url) for r, url in pending[:50]))


def _round_label(record: dict) -> str:
    title = record.get("round_title")
    return f"「{html.escape(title)}」" if title else ""


@router.get("/{number}", response_class=HTMLResponse)
async def phone(number: str, request: Request) -> HTMLResponse:
    number = normalise_number(number)  # /_sim/phones/090-1234-5678 finds +819012345678
    messages = [r for r in request.app.state.sim.messages if _phone_of(r) == number]
    await _learn_round_titles(request.app.state.sim, messages)
    parts = []
    for record in messages:
        body = html.escape(record.get("body") or "")
        link = ANSWER_LINK.search(record.get("body") or "")
        tap = (
            f'<br><a class="tap" href="{html.escape(link.group(0))}" target="_blank">回答ページを開く</a>'
            if link
            else ""
        )
        inbound = record.get("direction") == "inbound"
        answered = "".join(
            "　手入力の回答があるため自動回答なし" if a.get("skipped") else f"　自動回答: {html.escape(a['state'])}"
            for a in record.get("answers", [])
        )
        text = record.get("body") or ""
        mark = (
            ""
            if inbound
            else (
                f"　<strong>{html.escape(round_mark(text))}</strong>{_round_label(record)}"
                f"{html.escape(message_kind(text))}"
            )
        )
        parts.append(
            f'<div class="msg{" in" if inbound else ""}"><div class="meta">{_time(record["date_created"])}　'
            f"{'患者さんから' if inbound else 'サービスから'}{mark}　{STATUS.get(record['status'], html.escape(record['status']))}"
            f"{answered}</div>{body}{tap}</div>"
        )
    if not parts:
        parts.append("<p>この番号へのメッセージはまだありません。</p>")
    return _page(
        f"{number} の電話",
        f'<p><a href="/_sim/phones">← 電話の一覧</a></p>'
        f"<h1>{html.escape(_national(number))} <small>{html.escape(number)}</small></h1>{''.join(parts)}",
    )
