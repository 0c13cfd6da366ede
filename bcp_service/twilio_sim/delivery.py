"""What happens after the simulator accepts a message or call: signed webhooks back to the app."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from bcp_service.twilio_sim.answer_curve import answer_delay_seconds
from bcp_service.twilio_sim.state import SimState

log = logging.getLogger("twilio_sim")

API_VERSION = "2010-04-01"
UNDELIVERED_CODE = "30003"
# Twilio's codes for "your webhook did not answer" and "your TwiML did not parse".
WEBHOOK_ERROR_CODE = 11200
TWIML_PARSE_ERROR_CODE = 12100


def plan_message_statuses(state: SimState) -> tuple[list[str], str | None, str]:
    """Decide, at accept time, which callbacks a message gets.

    Returns (statuses in the order they will be posted, error code, true final status).
    Rolled in the request handler so a fixed seed gives the same outcome per request order.
    """
    cfg = state.config
    statuses = list(cfg.callback_statuses)
    error_code = None
    if state.chance(cfg.undelivered_rate):
        statuses = [s for s in statuses if s != "delivered"] + ["undelivered"]
        error_code = UNDELIVERED_CODE
    final = statuses[-1] if statuses else "queued"
    if len(statuses) > 1 and state.chance(cfg.out_of_order_rate):
        statuses.reverse()
    return statuses, error_code, final


async def deliver_message_callbacks(
    state: SimState, record: dict[str, Any], statuses: list[str], error_code: str | None
) -> None:
    url = record["status_callback"]
    for n, status in enumerate(statuses):
        await _pause(state.config.callback_delay_ms)
        _move_status(record, status, last=n == len(statuses) - 1)
        if not url:
            continue
        params = {
            "AccountSid": record["account_sid"],
            "ApiVersion": API_VERSION,
            "MessageSid": record["sid"],
            "SmsSid": record["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
            "To": record["to"],
            "From": record["from"],
        }
        if record.get("messaging_service_sid"):
            params["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code and status in ("undelivered", "failed"):
            params["ErrorCode"] = error_code
        copies = state.config.callback_copies
        responses = await asyncio.gather(
            *(
                state.post_signed(
                    url, params, target=_target(url, state.config.callback_targets, n + len(record["callbacks"]))
                )
                for n in range(copies)
            )
        )
        for response in responses:
            record["callbacks"].append({"status": status, "http_status": response.status_code if response else None})


# How far a message has gone: a late callback (out of order) does not move the status back.
STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "undelivered": 4,
    "failed": 4,
    "delivered": 4,
    "canceled": 5,
}


def _move_status(record: dict[str, Any], status: str, *, last: bool) -> None:
    """The record's status as this callback moves it; after the last one, the planned end state."""
    if record.get("status") == "canceled":
        return
    target = record.get("final_status", status) if last else status
    if STATUS_RANK.get(target, 0) >= STATUS_RANK.get(record.get("status", "queued"), 0):
        record["status"] = target
        record["date_updated"] = datetime.now(UTC).isoformat()
    if STATUS_RANK.get(record["status"], 0) >= 4 and record.get("pending_error_code"):
        record["error_code"] = record["pending_error_code"]


def _target(url: str, targets: list[str], n: int) -> str | None:
    """The n-th copy's process behind the public URL (round robin); None: the URL itself."""
    if not targets:
        return None
    parts = urlsplit(url)
    return targets[n % len(targets)].rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


async def run_call(state: SimState, record: dict[str, Any]) -> None:
    """Play a call placed through the API: answered (or not), then its TwiML played to its end."""
    cfg = state.config
    params = _call_params(record, "outbound-api")
    await _pause(cfg.callback_delay_ms)
    if record["status"] in ("canceled", "completed"):  # ended by an update (Calls/{Sid}.json) before it rang
        await _call_status(state, record, params, record["status"], duration=0)
        return
    digits = cfg.digits_for(record["to"])
    if digits is None:
        record["status"] = "no-answer"
        await _call_status(state, record, params, "no-answer", duration=0)
        return
    record["status"] = "in-progress"
    await play_call(state, record, params, digits)
    record["status"] = "completed"
    record["date_updated"] = datetime.now(UTC).isoformat()
    await _call_status(state, record, params, "completed", duration=5)


def _call_params(record: dict[str, Any], direction: str) -> dict[str, str]:
    return {
        "AccountSid": record["account_sid"],
        "ApiVersion": API_VERSION,
        "CallSid": record["sid"],
        "From": record["from"],
        "To": record["to"],
        "Direction": direction,
    }


async def play_call(state: SimState, record: dict[str, Any], params: dict[str, str], digits: str) -> None:
    """Fetch the call's TwiML and play it as Twilio does, to its end: each <Gather> gets the next press
    of ``digits`` ("3,#": 3 on the first Gather, # alone on the second), and the TwiML its action
    returns is played in turn. A press of the finishing key alone posts empty Digits only when the
    Gather sets actionOnEmptyResult (else Twilio moves on to the next verb). When a request to the
    service fails (an error, no answer), the call's FallbackUrl is asked, with ErrorCode and ErrorUrl.
    """
    presses = digits.split(",") if digits else []
    record.setdefault("presses", [])
    record.setdefault("transcript", [])
    if record.get("twiml") is not None:  # inline TwiML: nothing to fetch
        twiml, document_url = record["twiml"], ""
    else:
        twiml, document_url = await _ask(state, record, record["url"], {**params, "CallStatus": "in-progress"}, "POST")
    first, heard = True, False
    for _ in range(10):  # a TwiML loop in the service must not keep the simulator busy for ever
        if twiml is None or record["status"] in ("canceled", "completed"):  # or ended by an update
            return
        try:
            gather = find_gather(twiml, document_url)
        except ValueError:
            record["error_code"] = TWIML_PARSE_ERROR_CODE
            return
        spoken = said(twiml)
        if first:
            record["said"] = spoken
            first = False
        if not heard:  # a document's Says once, whichever of its Gathers posts
            record["transcript"].extend(spoken)
        heard = False
        if gather is None or not presses:
            return
        action_url, method, on_empty = gather
        press = presses.pop(0)
        posted = press.rstrip("#")
        if not posted and not on_empty:  # nothing posted: the next verbs of the same document play
            twiml, heard = _after_gather(twiml), True
            continue
        if record.get("digits_sent") is None:
            record["digits_sent"] = posted
        record["presses"].append(posted)
        twiml, document_url = await _ask(
            state,
            record,
            action_url,
            {**params, "CallStatus": "in-progress", "Digits": posted},
            method,
            gather_status=True,
        )


async def _ask(
    state: SimState,
    record: dict[str, Any],
    url: str,
    params: dict[str, str],
    method: str,
    *,
    gather_status: bool = False,
) -> tuple[str | None, str]:
    """One TwiML request; its FallbackUrl when it fails. (The TwiML to play next or None, the URL it
    came from: a relative Gather action resolves against it.)"""
    response = await state.post_signed(url, params, method=method)
    if gather_status:
        record["gather_http_status"] = response.status_code if response else None
    if response is not None and response.is_success:
        return response.text, url
    record["error_code"] = WEBHOOK_ERROR_CODE
    fallback = record.get("fallback_url")
    if not fallback:
        return None, url
    record.setdefault("fallbacks", []).append(url)
    answer = await state.post_signed(fallback, {**params, "ErrorCode": str(WEBHOOK_ERROR_CODE), "ErrorUrl": url})
    return (answer.text if answer is not None and answer.is_success else None), fallback


def _after_gather(twiml: str) -> str | None:
    """The document without its first <Gather> and what came before: what plays when it falls through."""
    root = ET.fromstring(twiml)
    children = list(root)
    for index, element in enumerate(children):
        if element.tag.rsplit("}", 1)[-1] == "Gather":
            rest = ET.Element(root.tag)
            rest.extend(children[index + 1 :])
            return ET.tostring(rest, encoding="unicode")
    return None


async def _call_status(
    state: SimState, record: dict[str, Any], params: dict[str, str], status: str, duration: int
) -> None:
    url = record.get("status_callback")
    if not url:
        return
    response = await state.post_signed(url, {**params, "CallStatus": status, "CallDuration": str(duration)})
    record["callbacks"].append({"status": status, "http_status": response.status_code if response else None})


def said(twiml: str) -> list[dict[str, str | None]]:
    """What the call's <Say> verbs speak, with their voice and language (an empty list if unreadable)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return []
    return [
        {"voice": e.get("voice"), "language": e.get("language"), "text": e.text}
        for e in root.iter()
        if e.tag.rsplit("}", 1)[-1] == "Say"
    ]


def find_gather(twiml: str, document_url: str) -> tuple[str, str, bool] | None:
    """Return (absolute action URL, method, actionOnEmptyResult) of the first <Gather>, None if there is none.

    Raises ValueError when the document is not XML.

    The stdlib parser is acceptable here: the simulator only reads TwiML from
    the app under test, and expat does not fetch external entities.
    """
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise ValueError("TwiML is not well-formed XML") from exc
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Gather":
            # Without an action Twilio posts the digits back to the current document.
            action = element.get("action") or document_url
            method = (element.get("method") or "POST").upper()
            return urljoin(document_url, action), method, element.get("actionOnEmptyResult") == "true"
    return None


async def _pause(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


ANSWER_LINK = re.compile(r"https?://\S+?/a/[A-Za-z0-9_-]+")
# The answer page shows the answer already given (templates/answers/form.html, notice.html).
ANSWERED_BY_HAND = "現在の回答"
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
# The answer page names its round under the heading (templates/answers/form.html, notice.html).
ROUND_TITLE = re.compile(r"</h1>\s*<p>([^<]{1,200})</p>")


def round_title(page_text: str) -> str:
    """The round's title the answer page shows ("" when the round has none): the simulator, like Twilio,
    is not told the round, so it learns it from the page a recipient opens."""
    found = ROUND_TITLE.search(page_text)
    return html.unescape(found.group(1)).strip() if found else ""


# What simulated recipients answer: mostly safe, some in trouble, as in a real first hour.
ANSWERS = (("safe", 80), ("power_out", 10), ("needs_help", 5), ("needs_transport", 5))
# An advance-notice page (事前連絡) asks where they will stay; most stay home, prepared.
NOTICE_ANSWERS = (
    ("plan_home", 60),
    ("plan_shelter", 10),
    ("plan_relative", 10),
    ("plan_hospital", 5),
    ("needs_help", 10),
    ("needs_transport", 5),
)
NOTICE_PLACES = {"plan_shelter": "地区の福祉避難所", "plan_relative": "市内の親戚宅", "plan_hospital": "後方支援病院"}


async def answer_by_link(state: SimState, record: dict[str, Any]) -> None:
    """Play a recipient who opens the link in the message and taps one button."""
    match = ANSWER_LINK.search(record.get("body") or "")
    if match is None:
        return
    await asyncio.sleep(answer_delay_seconds(state.config, state.rng))
    url = match.group(0)
    started = time.monotonic()
    try:
        page = await state._http().get(url)
        record["round_title"] = round_title(page.text)
        if ANSWERED_BY_HAND in page.text:
            # Someone already answered (a person playing the patient on the phones page): never overwrite it.
            state.count("answers_skipped")
            record.setdefault("answers", []).append({"state": "", "skipped": True, "http_status": page.status_code})
            return
        nonce = NONCE.search(page.text)
        choices = NOTICE_ANSWERS if 'value="plan_home"' in page.text else ANSWERS
        choice = state.rng.choices([a for a, _ in choices], [w for _, w in choices])[0]
        hours = str(state.rng.choice([1, 2, 3, 5, 8])) if choice == "power_out" else ""
        response = await state._http().post(
            url,
            data={
                "state": choice,
                "hours": hours,
                "note": "",
                "nonce": nonce.group(1) if nonce else "",
                "place": NOTICE_PLACES.get(choice, ""),
            },
        )
    except Exception as exc:  # the simulator must keep going whatever the app does
        state.count("answers_failed")
        log.warning(
            "twilio_sim.answer_failed",
            extra={
                "error_type": type(exc).__name__,
                "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return
    state.count("answers_sent" if response.is_success else "answers_failed")
    record.setdefault("answers", []).append({"state": choice, "http_status": response.status_code})
