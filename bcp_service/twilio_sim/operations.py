"""The rest of the Messages and Calls operations the official ``twilio`` library has: update (a
message's redaction or cancellation, a call's cancellation, ending or redirection), delete, and the
date filters of the lists. Shapes as Twilio's OpenAPI description names them; errors as its codes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bcp_service.twilio_sim.resources import API_VERSION, call_resource, message_resource, twilio_error

ACCOUNT_PREFIX = f"/{API_VERSION}/Accounts/{{sid}}"
FINAL_MESSAGE = frozenset({"sent", "delivered", "undelivered", "failed", "received", "canceled", "read"})
CANCELABLE_MESSAGE = frozenset({"accepted", "queued", "scheduled"})
FINAL_CALL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# List filters on dates: the parameter, the record's field, and how it compares ("=" same day).
DATE_FILTERS = {
    "messages": {"DateSent": "=", "DateSent<": "<", "DateSent>": ">"},
    "calls": {"StartTime": "=", "StartTime<": "<", "StartTime>": ">", "EndTime": "=", "EndTime<": "<", "EndTime>": ">"},
}


def _when(value: str) -> datetime | date | None:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        return None


def _moment(record: dict[str, Any], name: str, kind: str) -> datetime | None:
    """The record's date the filter reads: a message's date sent, a call's start or end."""
    status = record.get("status")
    if kind == "messages":
        if status not in FINAL_MESSAGE or record.get("direction") == "inbound":
            return None
        raw = record.get("date_updated") or record["date_created"]
    elif name.startswith("EndTime"):
        if status not in FINAL_CALL:
            return None
        raw = record.get("date_updated") or record["date_created"]
    else:
        raw = record["date_created"]
    return datetime.fromisoformat(raw)


def date_filters(query, kind: str) -> tuple[dict[str, str], Any] | JSONResponse:
    """The date filters given (to echo in the page's URIs) and a predicate over records, or a 400."""
    wanted = {name: query[name] for name in DATE_FILTERS[kind] if name in query}
    parsed = {name: _when(value) for name, value in wanted.items()}
    if any(value is None for value in parsed.values()):
        return twilio_error(400, 20001, "Invalid date filter: use YYYY-MM-DD or an ISO 8601 date and time")

    def keep(record: dict[str, Any]) -> bool:
        for name, bound in parsed.items():
            moment = _moment(record, name, kind)
            if moment is None:
                return False
            how = DATE_FILTERS[kind][name]
            if isinstance(bound, datetime):
                left: Any = moment
            else:
                left = moment.date()
            if how == "=" and (left.date() if isinstance(left, datetime) else left) != (
                bound.date() if isinstance(bound, datetime) else bound
            ):
                return False
            if how == "<" and not left <= bound:
                return False
            if how == ">" and not left >= bound:
                return False
        return True

    return wanted, keep


def _find(records, wanted: str) -> dict[str, Any] | None:
    for record in reversed(records):
        if record["sid"] == wanted:
            return record
    return None


def _touch(record: dict[str, Any]) -> None:
    record["date_updated"] = datetime.now(UTC).isoformat()


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))


def install(app: FastAPI, state: Any, unauthorised) -> None:
    """The update and delete operations; ``unauthorised(state, sid, request)`` is the app's 20003 check."""

    def located(sid: str, wanted: str, request: Request, records) -> dict[str, Any] | Response:
        """The record the request names; else the 401 (20003) or 404 (20404) to answer."""
        refused = unauthorised(state, sid, request)
        if refused is not None:
            return refused
        record = _find(records, wanted)
        if record is None:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return record

    @app.post(ACCOUNT_PREFIX + "/Messages/{message_sid}.json")
    async def update_message(sid: str, message_sid: str, request: Request) -> Response:
        """Body="" redacts a message that is done; Status=canceled cancels one not yet sent."""
        record = located(sid, message_sid, request, state.messages)
        if isinstance(record, Response):
            return record
        form = await _form(request)
        if "Status" in form:
            if form["Status"] != "canceled":
                return twilio_error(400, 21201, "Status can only be updated to canceled")
            if record["status"] not in CANCELABLE_MESSAGE:
                return twilio_error(400, 30409, f"Message {message_sid} cannot be canceled: it is {record['status']}")
            record["status"] = "canceled"
            _touch(record)
        if "Body" in form:
            if form["Body"] != "":
                return twilio_error(400, 21602, "A message can only be redacted: set Body to an empty string")
            if record["status"] not in FINAL_MESSAGE:
                return twilio_error(400, 20009, "Cannot redact a message before it is complete")
            record["body"] = ""
            record["redacted"] = True
            _touch(record)
        return JSONResponse(message_resource(record))

    def delete(sid: str, wanted: str, request: Request, records, final: frozenset[str], kind: str) -> Response:
        record = located(sid, wanted, request, records)
        if isinstance(record, Response):
            return record
        if record["status"] not in final:
            return twilio_error(400, 20009, f"Cannot delete a {kind} before it is complete")
        records.remove(record)
        return Response(status_code=204)

    @app.delete(ACCOUNT_PREFIX + "/Messages/{message_sid}.json")
    async def delete_message(sid: str, message_sid: str, request: Request) -> Response:
        return delete(sid, message_sid, request, state.messages, FINAL_MESSAGE, "message")

    @app.post(ACCOUNT_PREFIX + "/Calls/{call_sid}.json")
    async def update_call(sid: str, call_sid: str, request: Request) -> Response:
        """Status=canceled (queued or ringing), Status=completed (in progress), or Url/Twiml: play that next."""
        record = located(sid, call_sid, request, state.calls)
        if isinstance(record, Response):
            return record
        form = await _form(request)
        status = form.get("Status")
        if record["status"] in FINAL_CALL:
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status == "canceled":
            if record["status"] not in ("queued", "ringing"):
                return twilio_error(400, 21220, "Only a queued or ringing call can be canceled")
            record["status"] = "canceled"
        elif status == "completed":
            record["status"] = "completed"
        elif status is not None:
            return twilio_error(400, 21218, "Status must be canceled or completed")
        elif form.get("Url") or form.get("Twiml"):
            record["url"], record["twiml"] = form.get("Url") or None, form.get("Twiml")
            record.setdefault("redirects", []).append(form.get("Url") or "twiml")
        else:
            return twilio_error(400, 21205, "Url, Twiml or Status is required")
        _touch(record)
        return JSONResponse(call_resource(record))

    @app.delete(ACCOUNT_PREFIX + "/Calls/{call_sid}.json")
    async def delete_call(sid: str, call_sid: str, request: Request) -> Response:
        return delete(sid, call_sid, request, state.calls, FINAL_CALL, "call")
