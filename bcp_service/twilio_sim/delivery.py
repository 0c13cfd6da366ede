"""What happens after the simulator accepts a message or call: signed webhooks back to the app."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import xml.etree.ElementTree as ET
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
    for status in statuses:
        await _pause(state.config.callback_delay_ms)
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
        responses = await asyncio.gather(*(
            state.post_signed(url, params, target=_target(url, state.config.callback_targets, n + len(record["callbacks"])))
            for n in range(copies)))
        for response in responses:
            record["callbacks"].append(
                {"status": status, "http_status": response.status_code if response else None}
            )


def _target(url: str, targets: list[str], n: int) -> str | None:
    """The n-th copy's process behind the public URL (round robin); None: the URL itself."""
    if not targets:
        return None
    parts = urlsplit(url)
    return targets[n % len(targets)].rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


async def run_call(state: SimState, record: dict[str, Any]) -> None:
    """Play a call: fetch TwiML, press the configured digits on the first Gather, report status."""
    cfg = state.config
    params = {
        "AccountSid": record["account_sid"],
        "ApiVersion": API_VERSION,
        "CallSid": record["sid"],
        "From": record["from"],
        "To": record["to"],
        "Direction": "outbound-api",
    }
    await _pause(cfg.callback_delay_ms)
    digits = cfg.digits_for(record["to"])
    if digits is None:
        record["status"] = "no-answer"
        await _call_status(state, record, params, "no-answer", duration=0)
        return

    record["status"] = "in-progress"
    if record.get("twiml") is not None:  # inline TwiML: nothing to fetch
        twiml, document_url = record["twiml"], ""
    else:
        response = await state.post_signed(record["url"], {**params, "CallStatus": "in-progress"})
        ok = response is not None and response.is_success
        twiml, document_url = (response.text if ok else None), record["url"]
        if not ok:
            record["error_code"] = WEBHOOK_ERROR_CODE
    if twiml is not None:
        try:
            gather = find_gather(twiml, document_url)
        except ValueError:
            gather = None
            record["error_code"] = TWIML_PARSE_ERROR_CODE
        record["said"] = said(twiml)
        if gather is not None and digits:
            action_url, method = gather
            answer = await state.post_signed(
                action_url, {**params, "CallStatus": "in-progress", "Digits": digits}, method=method
            )
            record["digits_sent"] = digits
            record["gather_http_status"] = answer.status_code if answer else None
    record["status"] = "completed"
    await _call_status(state, record, params, "completed", duration=5)


async def _call_status(
    state: SimState, record: dict[str, Any], params: dict[str, str], status: str, duration: int
) -> None:
    url = record.get("status_callback")
    if not url:
        return
    response = await state.post_signed(
        url, {**params, "CallStatus": status, "CallDuration": str(duration)}
    )
    record["callbacks"].append(
        {"status": status, "http_status": response.status_code if response else None}
    )


def said(twiml: str) -> list[dict[str, str | None]]:
    """What the call's <Say> verbs speak, with their voice and language (an empty list if unreadable)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return []
    return [{"voice": e.get("voice"), "language": e.get("language"), "text": e.text}
            for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Say"]


def find_gather(twiml: str, document_url: str) -> tuple[str, str] | None:
    """Return (absolute action URL, method) of the first <Gather>, None if there is none.

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
            return urljoin(document_url, action), method
    return None


async def _pause(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


ANSWER_LINK = re.compile(r"https?://\S+?/a/[A-Za-z0-9_-]+")
# The answer page shows the answer already given (templates/answers/form.html, notice.html).
ANSWERED_BY_HAND = "現在の回答"
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
# What simulated recipients answer: mostly safe, some in trouble, as in a real first hour.
ANSWERS = (("safe", 80), ("power_out", 10), ("needs_help", 5), ("needs_transport", 5))
# An advance-notice page (事前連絡) asks where they will stay; most stay home, prepared.
NOTICE_ANSWERS = (("plan_home", 60), ("plan_shelter", 10), ("plan_relative", 10), ("plan_hospital", 5),
                  ("needs_help", 10), ("needs_transport", 5))
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
        if ANSWERED_BY_HAND in page.text:
            # Someone already answered (a person playing the patient on the phones page): never overwrite it.
            state.count("answers_skipped")
            record.setdefault("answers", []).append({"state": "", "skipped": True, "http_status": page.status_code})
            return
        nonce = NONCE.search(page.text)
        choices = NOTICE_ANSWERS if 'value="plan_home"' in page.text else ANSWERS
        choice = state.rng.choices([a for a, _ in choices], [w for _, w in choices])[0]
        hours = str(state.rng.choice([1, 2, 3, 5, 8])) if choice == "power_out" else ""
        response = await state._http().post(url, data={
            "state": choice, "hours": hours, "note": "", "nonce": nonce.group(1) if nonce else "",
            "place": NOTICE_PLACES.get(choice, ""),
        })
    except Exception as exc:  # the simulator must keep going whatever the app does
        state.count("answers_failed")
        log.warning("twilio_sim.answer_failed", extra={
            "error_type": type(exc).__name__, "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
            "seconds": round(time.monotonic() - started, 3)})
        return
    state.count("answers_sent" if response.is_success else "answers_failed")
    record.setdefault("answers", []).append({"state": choice, "http_status": response.status_code})
