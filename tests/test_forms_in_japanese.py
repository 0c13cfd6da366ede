"""Every form on the pages, posted with what people get wrong, answers in Japanese (issue 27.5).

The forms are found, not listed: each role's pages are crawled from the home page (and the answer
link), every ``<form method="post">`` is read, and each is posted with bad input: empty, letters in
numbers, too long, an impossible date, half a phone number. A reply with English validation text
(pydantic's "Input should be…", "Field required", the import's "(not a number)") or a 5xx fails.
The route table guards the crawl: a POST page route no form reached fails the test unless
``NOT_A_FORM`` says why it has none.
"""

from __future__ import annotations

import html as html_lib
import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.routing import APIRoute
from sqlmodel import select

from bcp_service.models import OutboxMessage, UnmatchedReply
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.routing import iter_api_routes
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)

# POST page routes with no form a person fills in, and why.
NOT_A_FORM = {
    "/logout": "ログアウトのボタンだけ（入力なし）",
    "/login": "ログイン前のフォーム: tests/test_error_pages.py が日本語の誤りを確かめる",
    "/login/code": "ログインの二段階目（ログイン前）",
    "/login/enrol": "二段階認証の登録（ログイン前、設定で必須のときだけ）",
    "/imports": "ファイルの取り込み（multipart）: tests/imports/ が日本語の誤りを確かめる",
    "/bcp/institutions/{institution_id}/plans": "完成した計画ファイルの提出（multipart）: tests/bcp/test_plans.py が日本語の誤りを確かめる",
    "/registry/regions/changes/{change_id}/cancel": "ボタンだけ（入力欄なし）、予定の線引き変更にだけ出る",
    "/account/two-factor/recovery-codes": "二段階認証を設定した人だけ: tests/auth/ の二段階認証のテスト",
    "/account/two-factor/disable": "二段階認証を設定した人だけ: tests/auth/ の二段階認証のテスト",
    "/admin/users/{user_id}/two-factor/disable": "ボタンだけ（入力欄なし）、二段階認証を設定した人にだけ出る",
    "/account/tokens/{token_id}/revoke": "ボタンだけ（入力欄なし）、発行済みのトークンにだけ出る",
    "/admin/tokens/{token_id}/revoke": "ボタンだけ（入力欄なし）、発行済みのトークンにだけ出る",
    "/system/lanes/{lane}/resume": "ボタンだけ（入力欄なし）、送信経路が止まっているときだけ出る",
    "/triggers/events/{record_id}/cancel": "ボタンだけ（入力欄なし）、開始待ちの自動開始にだけ出る",
    "/schedules/{schedule_id}/pause": "ボタンだけ（入力欄なし）、定期送信があるときだけ出る",
    "/schedules/{schedule_id}/resume": "ボタンだけ（入力欄なし）、止めた定期送信にだけ出る",
    "/bcp/drafts/{draft_id}/finalise": "ボタンだけ（入力欄なし）、確認済みの版にだけ出る",
}
# Not forms of this service: the API, Twilio's webhooks, the simulator.
SKIPPED_PREFIXES = ("/api/", "/webhooks/", "/_sim", "/healthz", "/metrics")
# Pages the crawl must not open: downloads, streams, the API documentation, leaving.
NOT_CRAWLED = re.compile(
    r"^/(logout|docs|redoc|openapi\.json|metrics|healthz|_sim)|/(stream|events\.stream|sse)\b|\.(csv|docx|pdf|json)$|/export"
)

BAD_INPUTS = {
    "empty": "",
    "letters in a number": "abc",
    "too long": "あ" * 3000,
    "impossible date": "2024-13-45",
    "half a phone number": "090-12",
    "full-width nonsense": "ＸＹＺ１２",
}
# English a person must never see: pydantic's and Starlette's words, and the import's bracketed English.
ENGLISH = re.compile(
    r"Input should|Field required|field required|[Vv]alue is not|String should|Value error|valid (integer|number|date)"
    r"|unable to parse|[Ii]nvalid|must be|not a valid|Expected|Extra inputs|[Tt]oo (long|short|large|small)"
    r"|[(（][a-z][a-z ,:'/-]{3,}[)）]"
)
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
FIELD = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.I)
ATTR = re.compile(r'([a-zA-Z_-]+)="([^"]*)"')
KEEP = {"csrf_token", "nonce", "idempotency_key", "client_id"}


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def forms_of(page: str, url: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """(action path, the fields' current values, the names a person types or picks) of each POST form."""
    found = []
    for attrs_text, inner in FORM.findall(page):
        attrs = dict(ATTR.findall(attrs_text))
        if attrs.get("method", "get").lower() != "post" or "multipart" in attrs.get("enctype", ""):
            continue
        action = urlsplit(urljoin(url, html_lib.unescape(attrs.get("action") or url))).path
        values: dict[str, str] = {}
        typed: list[str] = []
        for _tag, field_attrs_text in FIELD.findall(inner):
            field = dict(ATTR.findall(field_attrs_text))
            name = field.get("name")
            kind = field.get("type", "text").lower()
            if not name or kind in ("submit", "button", "file", "reset"):
                continue
            if kind in ("checkbox", "radio"):
                if re.search(r"\bchecked\b", field_attrs_text):
                    values[name] = html_lib.unescape(field.get("value", "on"))
                continue
            values.setdefault(name, html_lib.unescape(field.get("value", "")))
            if name not in KEEP:
                typed.append(name)
        found.append((action, values, list(dict.fromkeys(typed))))
    return found


# A browser's number and date inputs refuse 「３」 and 和暦 before the server sees them: pages use text inputs.
STRICT_INPUT = re.compile(r'<input\b[^>]*\btype="(number|date|datetime-local|month)"', re.I)
strict_inputs: set[str] = set()


def crawl(browser, seeds: list[str], limit: int = 120) -> dict[str, tuple[str, dict[str, str], list[str]]]:
    """Every POST form reachable from the seeds, by action path (the first one seen)."""
    forms: dict[str, tuple[str, dict[str, str], list[str]]] = {}
    queue, seen, visited = deque(seeds), set(seeds), 0
    while queue and visited < limit:
        url = queue.popleft()
        visited += 1
        response = browser.get(url)
        assert response.status_code < 500, url
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        for kind in STRICT_INPUT.findall(response.text):
            strict_inputs.add(f"{urlsplit(url).path}: type={kind}")
        for action, values, typed in forms_of(response.text, url):
            forms.setdefault(action, (url, values, typed))
        for href in re.findall(r'href="(/[^"#]*)"', response.text):
            href = html_lib.unescape(href)
            if href not in seen and not NOT_CRAWLED.search(urlsplit(href).path):
                seen.add(href)
                queue.append(href)
    return forms


def route_of(app, path: str) -> str | None:
    for route in iter_api_routes(app):
        if isinstance(route, APIRoute) and "POST" in route.methods and route.path_regex.match(path):
            return route.path
    return None


def page_post_routes(app) -> set[str]:
    return {
        route.path
        for route in iter_api_routes(app)
        if "POST" in route.methods and not route.path.startswith(SKIPPED_PREFIXES)
    }


@pytest.fixture
def land(session, settings):
    prefecture = create_prefecture(session)
    city, town = create_municipality(session, prefecture), create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city, town])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city, town])
    clinic = create_institution(session, city)
    designate(session, clinic, region, "active_institution")
    station = create_institution(session, city, kind="visiting_nurse_station")
    patient = create_patient(
        session,
        city,
        name="千葉 花子",
        hub_id=hub.id,
        active_institution_id=clinic.id,
        visiting_nurse_station_id=station.id,
        uses_oxygen=True,
    )
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[city.id]),
        reason="manual",
        drill=True,
        settings=settings,
        title="訓練",
    )
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).first()
    # A second, real round in the same area (the incident form) and a reply waiting for review.
    create_patient(session, town, name="船橋 一郎", phones=["+819012340000"])
    start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[town.id]),
        reason="manual",
        drill=True,
        settings=settings,
        title="別の訓練",
    )
    session.add(
        UnmatchedReply(
            from_number="+819012345678", body="だいじょうぶ", provider_message_id="SMforms1", reason="unreadable"
        )
    )
    session.flush()
    return {
        "prefecture": prefecture,
        "clinic": clinic,
        "station": station,
        "patient": patient,
        "round": safety_round,
        "answer": f"/a/{message.answer_token}",
    }


def post_badly(browser, action: str, values: dict[str, str], typed: list[str]) -> list[str]:
    """Post the form with each bad input in every field, then in one field at a time; the English or 5xx seen."""
    failures = []
    attempts = [(label, dict(values, **dict.fromkeys(typed, bad))) for label, bad in BAD_INPUTS.items()]
    bads = list(BAD_INPUTS.items())
    attempts += [
        (f"{bads[i % len(bads)][0]} in {name}", dict(values, **{name: bads[i % len(bads)][1]}))
        for i, name in enumerate(typed)
    ]
    for label, data in attempts:
        response = browser.post(action, data=data)
        text = visible_text(response.text) if "html" in response.headers.get("content-type", "") else response.text
        english = ENGLISH.search(text)
        if response.status_code >= 500 or english:
            shown = text[max(0, english.start() - 60) : english.end() + 60] if english else ""
            failures.append(f"POST {action} ({label}): {response.status_code} {' '.join(shown.split())}")
    return failures


def test_every_form_answers_bad_input_in_japanese(app, browser_as, anon_client, land):
    strict_inputs.clear()
    admin = browser_as("admin")
    clinic = browser_as("institution", land["clinic"].id)
    nurse = browser_as("nurse", land["station"].id)
    patient_id = land["patient"].id
    clinic_page = clinic.get(f"/bcp/institutions/{land['clinic'].id}")
    drafted = clinic.post(f"/bcp/institutions/{land['clinic'].id}/drafts", data={"csrf_token": csrf(clinic_page.text)})
    assert drafted.status_code < 400, drafted.text
    seeds = [
        "/",
        f"/registry/patients/{patient_id}",
        "/registry/patients/new",
        f"/rounds/{land['round'].id}",
        "/rounds/new",
        f"/rounds/new?prefecture_id={land['prefecture'].id}&preview=1",
        "/account",
        "/review",
        "/bcp/drafts",
        "/schedules",
        f"/registry/institutions/{land['clinic'].id}",
    ]
    reached: dict[str, tuple] = {}
    for browser in (admin, clinic, nurse):
        for action, form in crawl(browser, seeds).items():
            route = route_of(app, action)
            if route and route not in reached:
                reached[route] = (browser, action, form)
    for action, form in crawl(anon_client, [land["answer"]], limit=3).items():
        reached.setdefault(route_of(app, action) or action, (anon_client, action, form))

    assert not strict_inputs, f"number/date inputs that refuse full-width digits and 和暦: {sorted(strict_inputs)}"
    missing = page_post_routes(app) - set(reached) - set(NOT_A_FORM)
    assert not missing, (
        f"POST page routes no crawled form reached (add a seed, or a reason in NOT_A_FORM): {sorted(missing)}"
    )

    failures = []
    # Forms that end something (close, delete, revoke, disable) last, so the others still have their objects.
    ending = re.compile(r"/(close|delete|revoke|disable|active|resolve|cancel|pause|resume)$")
    for _route, (browser, action, (_url, values, typed)) in sorted(
        reached.items(), key=lambda kv: bool(ending.search(kv[0]))
    ):
        failures += post_badly(browser, action, values, typed)
    assert not failures, "\n".join(failures)


def test_the_import_page_shows_its_row_errors_in_japanese(browser_as, session):
    """The file form the crawl skips (multipart): a bad row's reason without the report's English."""
    from tests.imports.conftest import HEADER_JA, patient_row, to_csv

    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, create_region(session, prefecture, [city]), "hub", covers=[city])
    browser = browser_as("hub", hub.id)
    token = csrf(browser.get("/imports").text)
    area = {"city": city, "hub": hub, "prefecture": prefecture}
    bad = to_csv([patient_row(area, "P-1", 生年月日="1950-13-40", 内部バッテリー時間="abc")], HEADER_JA)
    checked = browser.post(
        "/imports",
        data={"csrf_token": token, "kind": "patients", "step": "check"},
        files={"file": ("患者.csv", bad.encode("cp932"), "text/csv")},
    )
    assert checked.status_code == 422 and "存在しない日付です" in checked.text
    assert not ENGLISH.search(visible_text(checked.text)), ENGLISH.search(visible_text(checked.text))
