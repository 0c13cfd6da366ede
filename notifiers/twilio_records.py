"""What Twilio's own record says was sent and received since a time (``GET Messages.json``, ``Calls.json``).

After a database is restored from a backup, the service reconciles with this record before it sends
anything (``bcp-service db restore``): a message the provider already took is not sent again.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

API_VERSION = "2010-04-01"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class ProviderRecord:
    sid: str
    kind: str  # "sms" or "call"
    direction: str  # "outbound-api", "inbound"...
    to: str
    from_: str | None
    body: str
    status: str
    created_at: datetime


async def list_since(
    account_sid: str,
    auth_token: str,
    *,
    since: datetime,
    base_url: str = "https://api.twilio.com",
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
    max_pages: int = 1000,
) -> list[ProviderRecord]:
    """Messages and calls created at or after ``since`` (an aware datetime), oldest first.

    Twilio filters ``DateSent>=`` and ``StartTime>=`` by day only, so the time is applied here too, to the
    second (Twilio's resolution: a record of the backup's own second is included).
    """
    account = f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
    since = since.replace(microsecond=0)  # Twilio's times are whole seconds
    day = (since - timedelta(days=1)).date().isoformat()  # a day early: Twilio's day is UTC, as is ours
    found: list[ProviderRecord] = []
    async with httpx.AsyncClient(
        auth=httpx.BasicAuth(account_sid, auth_token),
        timeout=timeout,
        transport=transport,
        headers={"Accept": "application/json"},
    ) as client:
        for kind, resource, key, day_filter in (
            ("sms", "Messages.json", "messages", "DateSent>"),
            ("call", "Calls.json", "calls", "StartTime>"),
        ):
            url: str | None = f"{account}/{resource}"
            params: dict[str, str] | None = {"PageSize": str(PAGE_SIZE), day_filter: day}
            for _ in range(max_pages):
                if url is None:
                    break
                response = await client.get(url, params=params)
                response.raise_for_status()
                data = response.json()
                for item in data.get(key, []):
                    record = _record(kind, item)
                    if record.created_at >= since:
                        found.append(record)
                next_uri = data.get("next_page_uri")
                url, params = (f"{base_url.rstrip('/')}{next_uri}", None) if next_uri else (None, None)
    return sorted(found, key=lambda r: r.created_at)


def _record(kind: str, item: dict) -> ProviderRecord:
    created = item.get("date_created") or item.get("start_time")
    return ProviderRecord(
        sid=str(item["sid"]),
        kind=kind,
        direction=str(item.get("direction") or ""),
        to=str(item.get("to") or ""),
        from_=item.get("from"),
        body=str(item.get("body") or ""),
        status=str(item.get("status") or ""),
        created_at=email.utils.parsedate_to_datetime(created) if created else datetime.min,
    )
