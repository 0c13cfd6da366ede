"""A Twilio-compatible REST surface for development and load tests.

Speaks enough of the 2010-04-01 API (Messages, Calls, signed webhooks) for the
official client and our notifier to run against it, and adds /_sim/ endpoints
to inspect what was sent and to inject faults.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bcp_service.sms import count_segments
from bcp_service.twilio_sim import faults, operations
from bcp_service.twilio_sim.config import SimConfig
from bcp_service.twilio_sim.delivery import (
    API_VERSION,
    answer_by_link,
    deliver_message_callbacks,
    plan_message_statuses,
    play_call,
    run_call,
)
from bcp_service.twilio_sim.numbers import account_refusal, call_refusal, sms_refusal
from bcp_service.twilio_sim.phones import router as phones_router
from bcp_service.twilio_sim.resources import DEFAULT_PAGE_SIZE, call_resource, message_resource, page, twilio_error
from bcp_service.twilio_sim.state import SimState, new_sid

log = logging.getLogger("twilio_sim")

ACCOUNT_PREFIX = f"/{API_VERSION}/Accounts/{{sid}}"


class InboundCall(BaseModel):
    """A person calling the 050 number: who, and what they press on each <Gather> ("3,#")."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    digits: str = ""


class InboundSms(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    body: str


def create_sim_app(config: SimConfig | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the simulator. `transport` lets tests route webhooks to an in-process app."""
    state = SimState(config or SimConfig(), transport=transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await state.aclose()

    app = FastAPI(title="Twilio simulator", lifespan=lifespan, docs_url="/_sim/docs")
    app.state.sim = state
    app.include_router(phones_router)  # /_sim/phones: what each number received, as a page

    @app.post(ACCOUNT_PREFIX + "/Messages.json")
    async def create_message(sid: str, request: Request) -> JSONResponse:
        form, rejection = await _admit(state, sid, request)
        if rejection is not None:
            return rejection
        cfg = state.config
        to, body = form.get("To", ""), form.get("Body")
        service_sid = form.get("MessagingServiceSid")
        sender = form.get("From")
        if not to:
            return _invalid(state, 21604, "A 'To' phone number is required.")
        if body is None or body == "":
            return _invalid(state, 21602, "Message body is required.")
        if not sender and not service_sid:
            return _invalid(state, 21603, "A 'From' phone number is required.")
        refusal = sms_refusal(
            to=to, sender=None if service_sid else sender, landlines=cfg.landline_numbers
        ) or account_refusal(cfg, to=to, sender=None if service_sid else sender, channel="sms")
        if refusal is not None:
            return _invalid(state, *refusal)
        failure = _injected_failure(state, to)
        if failure is not None:
            return failure

        segments, encoding = count_segments(body)
        refused = await faults.refuse(state, form, segments)  # outages, 21611, queue full (faults.py)
        if refused is not None:
            return refused
        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "sid": new_sid("SM"),
            "account_sid": cfg.account_sid,
            "direction": "outbound-api",
            "to": to,
            "from": cfg.messaging_service_from if service_sid else sender,
            "messaging_service_sid": service_sid,
            "body": body,
            "num_segments": segments,
            "encoding": encoding,
            "status": "queued",
            "status_callback": form.get("StatusCallback"),
            "date_created": now.isoformat(),
            "callbacks": [],
        }
        # A Messaging Service send is "accepted" until the service picks a sender; a From send is "queued".
        first = "accepted" if service_sid else "queued"
        record["status"] = first
        state.messages.append(record)
        state.count("accepted")
        response = JSONResponse(message_resource(record, status=first), status_code=201)

        statuses, error_code, final = faults.plan(state, form, plan_message_statuses(state))
        record["final_status"] = final  # what the status moves to, step by step with the callbacks
        if error_code:
            record["pending_error_code"] = int(error_code)
        if statuses:
            # The status moves only as the callbacks do (posted or not): a fetch before a callback
            # shows no final status yet, as at Twilio.
            state.spawn(deliver_message_callbacks(state, record, statuses, error_code))
        if final != "undelivered" and state.chance(cfg.answer_rate):
            state.spawn(answer_by_link(state, record))
        await faults.lose_answer(state)
        return response

    @app.post(ACCOUNT_PREFIX + "/Calls.json")
    async def create_call(sid: str, request: Request) -> JSONResponse:
        form, rejection = await _admit(state, sid, request)
        if rejection is not None:
            return rejection
        to, sender, url = form.get("To", ""), form.get("From", ""), form.get("Url", "")
        twiml = form.get("Twiml")
        if not to:
            return _invalid(state, 21201, "No 'To' number is specified")
        if not sender:
            return _invalid(state, 21213, "No 'From' number is specified")
        if twiml is None and not url.startswith(("http://", "https://")):
            return _invalid(state, 21205, "Url is not a valid URL")
        refusal = call_refusal(to=to, caller_id=sender) or account_refusal(
            state.config, to=to, sender=sender, channel="voice"
        )
        if refusal is not None:
            return _invalid(state, *refusal)
        failure = _injected_failure(state, to) or await faults.refuse(state, form)
        if failure is not None:
            return failure

        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "sid": new_sid("CA"),
            "account_sid": state.config.account_sid,
            "to": to,
            "from": sender,
            "url": None if twiml is not None else url,
            "twiml": twiml,
            "status_callback": form.get("StatusCallback"),
            "fallback_url": form.get("FallbackUrl"),
            "status": "queued",
            "date_created": now.isoformat(),
            "digits_sent": None,
            "callbacks": [],
        }
        state.calls.append(record)
        state.count("calls")
        response = JSONResponse(call_resource(record, status="queued"), status_code=201)
        state.spawn(run_call(state, record))
        await faults.lose_answer(state)
        return response

    @app.get(ACCOUNT_PREFIX + ".json")
    async def fetch_account(sid: str, request: Request) -> JSONResponse:
        """The account (what a paused lane's probe fetches, issue 26.1)."""
        refused = _unauthorised(state, sid, request) or faults.fault_state(state).account_error(fetch=True)
        if refused is not None:
            return refused
        return JSONResponse(
            {
                "sid": sid,
                "friendly_name": "bcp-service simulator",
                "status": "active",
                "type": "Full",
                "uri": f"/{API_VERSION}/Accounts/{sid}.json",
            }
        )

    @app.get(ACCOUNT_PREFIX + "/Messages.json")
    async def list_messages_api(sid: str, request: Request) -> JSONResponse:
        return _list(state, sid, request, "messages", state.messages, message_resource)

    @app.get(ACCOUNT_PREFIX + "/Messages/{message_sid}.json")
    async def fetch_message(sid: str, message_sid: str, request: Request) -> JSONResponse:
        return _fetch(state, sid, request, state.messages, message_sid, message_resource)

    @app.get(ACCOUNT_PREFIX + "/Calls.json")
    async def list_calls_api(sid: str, request: Request) -> JSONResponse:
        return _list(state, sid, request, "calls", state.calls, call_resource)

    @app.get(ACCOUNT_PREFIX + "/Calls/{call_sid}.json")
    async def fetch_call(sid: str, call_sid: str, request: Request) -> JSONResponse:
        return _fetch(state, sid, request, state.calls, call_sid, call_resource)

    @app.get("/_sim/messages")
    async def list_messages(to: str | None = None, direction: str | None = None, limit: int = 1000) -> dict[str, Any]:
        found = _recent(state.messages, limit, to=to, direction=direction)
        return {"messages": found, "count": len(found), "total": len(state.messages)}

    @app.get("/_sim/calls")
    async def list_calls(to: str | None = None, limit: int = 1000) -> dict[str, Any]:
        found = _recent(state.calls, limit, to=to)
        return {"calls": found, "count": len(found), "total": len(state.calls)}

    @app.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return {**state.stats, "pending_callbacks": state.pending_callbacks}

    @app.get("/_sim/config")
    async def get_config() -> dict[str, Any]:
        # Without the auth token: whoever holds it can sign webhooks the service would accept.
        return state.config.model_dump(mode="json", exclude={"auth_token"})

    @app.post("/_sim/config")
    async def update_config(changes: dict[str, Any]) -> JSONResponse:
        try:
            updated = state.update_config(changes)
        except ValidationError as exc:
            return JSONResponse({"detail": json.loads(exc.json())}, status_code=422)
        return JSONResponse(updated.model_dump(mode="json", exclude={"auth_token"}))

    @app.post("/_sim/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    @app.post("/_sim/flush")
    async def flush(timeout: float = 10.0) -> dict[str, Any]:
        left = await state.flush_callbacks(timeout)
        return {"pending": left}

    @app.post("/_sim/inbound")
    async def inbound(sms: InboundSms) -> JSONResponse:
        return await _post_inbound(state, sms)

    @app.post("/_sim/inbound_call")
    async def inbound_call(call: InboundCall) -> JSONResponse:
        return await _place_inbound_call(state, call)

    faults.install(app, state)
    operations.install(app, state, _unauthorised)
    return app


async def _admit(state: SimState, sid: str, request: Request) -> tuple[dict[str, str], JSONResponse | None]:
    """Checks every create request shares: auth, latency, rate limit."""
    cfg = state.config
    refused = _unauthorised(state, sid, request)
    if refused is None and (refused := faults.fault_state(state).account_error()) is not None:
        state.count("rejected_account")
    if refused is not None:
        return {}, refused
    if cfg.latency_ms:
        await asyncio.sleep(cfg.latency_ms / 1000)
    wait = state.bucket.take()
    if wait > 0:
        state.count("rejected_429")
        retry = {"Retry-After": str(math.ceil(wait))}
        return {}, twilio_error(429, 20429, "Too Many Requests", **retry)
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True)), None


def _authorised(request: Request, sid: str, cfg: SimConfig) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == cfg.account_sid == sid and password == cfg.auth_token


def _invalid(state: SimState, code: int, message: str) -> JSONResponse:
    state.count("rejected_invalid")
    return twilio_error(400, code, message)


def _injected_failure(state: SimState, to: str) -> JSONResponse | None:
    cfg = state.config
    if to in cfg.permanent_failure_numbers or state.chance(cfg.permanent_failure_rate):
        state.count("failed")
        state.count("failed_permanent")
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if state.chance(cfg.transient_failure_rate):
        state.count("failed")
        state.count("failed_transient")
        return twilio_error(500, 20500, "Internal Server Error")
    return None


def _recent(records: Any, limit: int, *, to: str | None = None, direction: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for record in reversed(records):
        if len(found) >= max(limit, 0):
            break
        if to is not None and record["to"] != to:
            continue
        if direction is not None and record.get("direction") != direction:
            continue
        found.append(record)
    return found


def _unauthorised(state: SimState, sid: str, request: Request) -> JSONResponse | None:
    if _authorised(request, sid, state.config):
        return None
    state.count("rejected_auth")
    return twilio_error(401, 20003, "Authenticate", **{"WWW-Authenticate": 'Basic realm="Twilio API"'})


def _fetch(state: SimState, sid: str, request: Request, records: Any, wanted: str, render) -> JSONResponse:
    """GET .../{Sid}.json: the resource as it is now."""
    refused = _unauthorised(state, sid, request)
    if refused is not None:
        return refused
    for record in reversed(records):
        if record["sid"] == wanted:
            return JSONResponse(render(record))
    return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


# List filters Twilio takes on Messages.json and Calls.json that the simulator honours.
LIST_FILTERS = {"To": "to", "From": "from", "Status": "status"}


def _list(state: SimState, sid: str, request: Request, key: str, records: Any, render) -> JSONResponse:
    """GET Messages.json / Calls.json: newest first, filtered, paged with PageSize and Page."""
    refused = _unauthorised(state, sid, request)
    if refused is not None:
        return refused
    query = request.query_params
    filters = {name: query[name] for name in LIST_FILTERS if name in query}
    dated = operations.date_filters(query, key)
    if isinstance(dated, JSONResponse):
        return dated
    dates, in_window = dated
    try:
        size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
        number = int(query.get("Page", 0))
    except ValueError:
        return twilio_error(400, 20001, "PageSize and Page must be integers")
    if size < 1 or number < 0:
        return twilio_error(400, 20001, "PageSize must be positive and Page not negative")
    matching = [
        r
        for r in reversed(records)
        if all(r.get(LIST_FILTERS[name]) == value for name, value in filters.items()) and in_window(r)
    ]
    return JSONResponse(
        page(
            matching,
            key=key,
            base_uri=request.url.path,
            filters={**filters, **dates},
            page_number=number,
            page_size=size,
            render=render,
        )
    )


async def _place_inbound_call(state: SimState, call: InboundCall) -> JSONResponse:
    """Ring the service as Twilio does for a call to its number: the voice URL, each press, the end."""
    cfg = state.config
    if not cfg.voice_webhook_url:
        return JSONResponse({"error": "voice_webhook_url is not configured"}, status_code=409)
    record: dict[str, Any] = {
        "sid": new_sid("CA"),
        "account_sid": cfg.account_sid,
        "direction": "inbound",
        "to": call.to,
        "from": call.from_,
        "url": cfg.voice_webhook_url,
        "twiml": None,
        "status_callback": None,
        "status": "in-progress",
        "date_created": datetime.now(UTC).isoformat(),
        "digits_sent": None,
        "callbacks": [],
    }
    state.calls.append(record)
    state.count("inbound_calls")
    await play_call(
        state,
        record,
        {
            "AccountSid": cfg.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": record["sid"],
            "From": call.from_,
            "To": call.to,
            "Direction": "inbound",
        },
        call.digits,
    )
    record["status"] = "completed"
    return JSONResponse(
        {
            key: record.get(key)
            for key in ("sid", "status", "said", "transcript", "presses", "gather_http_status", "error_code")
        }
    )


async def _post_inbound(state: SimState, sms: InboundSms) -> JSONResponse:
    cfg = state.config
    if not cfg.inbound_webhook_url:
        return JSONResponse({"error": "inbound_webhook_url is not configured"}, status_code=409)
    sid = new_sid("SM")
    segments, _ = count_segments(sms.body)
    params = {
        "AccountSid": cfg.account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": sms.from_,
        "To": sms.to,
        "Body": sms.body,
        "NumMedia": "0",
        "NumSegments": str(segments),
    }
    state.messages.append(
        {
            "sid": sid,
            "account_sid": cfg.account_sid,
            "direction": "inbound",
            "to": sms.to,
            "from": sms.from_,
            "body": sms.body,
            "num_segments": segments,
            "status": "received",
            "date_created": datetime.now(UTC).isoformat(),
            "callbacks": [],
        }
    )
    response = await state.post_signed(cfg.inbound_webhook_url, params, stat="inbound")
    if response is None:
        return JSONResponse({"message_sid": sid, "status_code": None, "error": "unreachable"}, status_code=502)
    return JSONResponse(
        {
            "message_sid": sid,
            "status_code": response.status_code,
            "response_body": response.text[:2000],
        }
    )
