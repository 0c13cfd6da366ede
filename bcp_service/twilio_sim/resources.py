"""Message and Call resources as Twilio's REST API returns them, its paged lists and its error bodies.

Field for field the ``api.v2010.account.message`` / ``api.v2010.account.call`` schemas of Twilio's
OpenAPI description (twilio-oai; tests/twilio_sim/fixtures holds the part checked): every
property present, RFC 2822 dates, string counts, SIDs of 34 characters.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import JSONResponse

API_VERSION = "2010-04-01"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def rfc2822(moment: str | datetime | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return email.utils.format_datetime(moment)


def _uri(record: dict[str, Any], kind: str) -> str:
    return f"/{API_VERSION}/Accounts/{record['account_sid']}/{kind}/{record['sid']}"


def message_resource(record: dict[str, Any], *, status: str | None = None) -> dict[str, Any]:
    """``status`` overrides the stored one (a create answers "queued" whatever happens next)."""
    uri = _uri(record, "Messages")
    status = status or record["status"]
    done = status not in ("queued", "accepted", "sending")
    error_code = record.get("error_code") if done else None
    return {
        "account_sid": record["account_sid"],
        "api_version": API_VERSION,
        "body": record["body"],
        "date_created": rfc2822(record["date_created"]),
        "date_sent": rfc2822(record["date_created"]) if done and record.get("direction") != "inbound" else None,
        "date_updated": rfc2822(record.get("date_updated") or record["date_created"]),
        "direction": record.get("direction", "outbound-api"),
        "error_code": error_code,
        "error_message": record.get("error_message") if error_code else None,
        # Twilio fills `from` only once a Messaging Service has picked the sender.
        "from": None if record.get("messaging_service_sid") and status in ("accepted", "queued") else record["from"],
        "messaging_service_sid": record.get("messaging_service_sid"),
        "num_media": "0",
        "num_segments": str(record["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": record["sid"],
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": record["to"],
        "uri": f"{uri}.json",
    }


def call_resource(record: dict[str, Any], *, status: str | None = None) -> dict[str, Any]:
    uri = _uri(record, "Calls")
    status = status or record["status"]
    ended = status in ("completed", "busy", "failed", "no-answer", "canceled")
    return {
        "account_sid": record["account_sid"],
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(record["date_created"]),
        "date_updated": rfc2822(record.get("date_updated") or record["date_created"]),
        "direction": record.get("direction", "outbound-api"),
        "duration": str(record.get("duration", 0)) if ended else None,
        "end_time": rfc2822(record.get("date_updated") or record["date_created"]) if ended else None,
        "forwarded_from": None,
        "from": record["from"],
        "from_formatted": record["from"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": record.get("phone_number_sid"),
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": record["sid"],
        "start_time": rfc2822(record["date_created"]) if status not in ("queued", "canceled") else None,
        "status": status,
        "subresource_uris": {
            name: f"{uri}/{name.title().replace('_', '')}.json" for name in ("notifications", "recordings", "events")
        },
        "to": record["to"],
        "to_formatted": record["to"],
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def page(
    records: Iterable[dict[str, Any]],
    *,
    key: str,
    base_uri: str,
    filters: dict[str, str],
    page_number: int,
    page_size: int,
    render,
) -> dict[str, Any]:
    """One page of a list, newest first, with Twilio's paging fields (PageSize, Page)."""
    size = min(max(page_size, 1), MAX_PAGE_SIZE)
    matching = list(records)
    start = page_number * size
    chunk = matching[start : start + size]

    def link(number: int) -> str:
        return f"{base_uri}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

    return {
        key: [render(record) for record in chunk],
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": link(0),
        "next_page_uri": link(page_number + 1) if start + size < len(matching) else None,
        "page": page_number,
        "page_size": size,
        "previous_page_uri": link(page_number - 1) if page_number > 0 else None,
        "start": start,
        "uri": link(page_number),
    }


def twilio_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    """An error body as Twilio's REST API returns it (code, message, more_info, status)."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers or None,
    )
