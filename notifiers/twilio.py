"""Twilio REST notifier over one pooled httpx client.

We talk to the REST API directly instead of through the `twilio` package so
that every send is a plain awaitable on one shared connection pool, with a
timeout we choose, and so errors map straight onto the retry policy.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from notifiers import twilio_codes as facts
from notifiers.base import (
    NotifierError,
    PermanentSendError,
    SendResult,
    TransientSendError,
)

API_VERSION = "2010-04-01"
RATE_LIMIT_CODE = "20429"
# 21611: the sender's queue is full. Nothing was sent; it is backpressure, not a bad request.
QUEUE_FULL_CODES = frozenset({"21611"})
MAX_VALIDITY_SECONDS = 36000  # Twilio's ValidityPeriod: 1 to 36,000 seconds
LOOKUP_PAGE_SIZE = 50
LOOKUP_MAX_PAGES = 20


class TwilioNotifier:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        caller_id: str | None = None,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        max_connections: int = 100,
        validity_period: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if (from_number is None) == (messaging_service_sid is None):
            raise ValueError("give exactly one of from_number or messaging_service_sid")
        self.account_sid = account_sid
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        # Seconds Twilio may keep a message queued; after that it fails (30001...) instead of arriving late.
        self.validity_period = validity_period
        # Calls need a phone number; from_number may be an alphanumeric sender ID (SMS only).
        self.caller_id = caller_id or (from_number if from_number and from_number.startswith("+") else None)
        self._base_url = base_url.rstrip("/")
        self._account_url = f"{self._base_url}/{API_VERSION}/Accounts/{account_sid}"
        # httpx for the interface (requests, errors, auth, tests' MockTransport), aiohttp on the wire:
        # httpcore's pure-Python HTTP/1.1 cost a sender 1.4 ms of CPU per message, the aiohttp
        # transport 0.47 ms (load_tests/RESULTS.md, "Sender CPU per message").
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(account_sid, auth_token),
            timeout=httpx.Timeout(timeout),
            transport=transport
            or AiohttpTransport(
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            ),
            headers={"Accept": "application/json"},
        )

    async def send_sms(
        self, *, to: str, body: str, status_callback: str | None = None, validity_period: int | None = None
    ) -> SendResult:
        form: dict[str, str] = {"To": to, "Body": body}
        if self.messaging_service_sid is not None:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number  # type: ignore[assignment]
        if status_callback:
            form["StatusCallback"] = status_callback
        # What is left of the message's validity (the caller's count), never more than the configured period.
        validity = min((p for p in (validity_period, self.validity_period) if p), default=None)
        if validity:
            form["ValidityPeriod"] = str(max(1, min(validity, MAX_VALIDITY_SECONDS)))
        return await self._post("Messages.json", form, channel="sms")

    async def place_call(
        self, *, to: str, twiml_url: str, status_callback: str | None = None, fallback_url: str | None = None
    ) -> SendResult:
        if self.caller_id is None:
            # Messaging Services and sender IDs are SMS senders only; a call needs a caller ID.
            raise PermanentSendError("voice needs a caller ID", code=None, bad_contact=False)
        form = {"To": to, "From": self.caller_id, "Url": twiml_url}
        if fallback_url:  # when our answer at Url fails, Twilio asks here instead of speaking its English error
            form["FallbackUrl"] = fallback_url
        if status_callback:
            form["StatusCallback"] = status_callback
        return await self._post("Calls.json", form, channel="voice")

    async def fetch_status(self, provider_id: str) -> SendResult:
        """The message's current status at Twilio (``GET Messages/{Sid}.json``); ``error_code`` on failure."""
        data = await self._get(f"{self._account_url}/Messages/{provider_id}.json", None)
        if not data.get("sid"):
            raise NotifierError("twilio fetch without sid")
        code = data.get("error_code")
        return SendResult(str(data["sid"]), str(data.get("status", "queued")), None if code is None else str(code))

    async def find_sent(
        self, *, to: str, since: datetime, body: str | None = None, call: bool = False
    ) -> SendResult | None:
        """A message (``body`` equal) or a call from our caller ID to ``to``, created at ``since`` or later.

        For a create whose answer was lost (a timeout): Twilio may have taken it. Lists newest first,
        filtered by recipient (and caller ID for calls), and stops at the first older than ``since``.
        Message resources carry no callback URL, so a message is matched by its text (which holds its
        own answer token), a call by its number and time. Errors raise as a send's do (retried later).
        """
        resource, key = ("Calls.json", "calls") if call else ("Messages.json", "messages")
        params: dict[str, str] | None = {"To": to, "PageSize": str(LOOKUP_PAGE_SIZE)}
        if call and self.caller_id and params is not None:
            params["From"] = self.caller_id
        url = f"{self._account_url}/{resource}"
        for _ in range(LOOKUP_MAX_PAGES):
            data = await self._get(url, params)
            for item in data.get(key) or []:
                created = email.utils.parsedate_to_datetime(item["date_created"])
                if created < since:
                    return None
                if call or item.get("body") == body:
                    return SendResult(provider_id=str(item["sid"]), status=str(item.get("status", "queued")))
            following = data.get("next_page_uri")
            if not following:
                return None
            url, params = f"{self._base_url}{following}", None
        return None

    async def check_account(self) -> None:
        """The lane's probe (issue 26.1): ``GET Accounts/{Sid}.json`` answers only while the token works
        and the account is active; raises the mapped error (``account_problem``...) otherwise."""
        data = await self._get(f"{self._account_url}.json", None)
        status = data.get("status")
        if status in ("suspended", "closed"):
            raise PermanentSendError(f"twilio account {status}", code="20005")

    async def _get(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=params)
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"twilio timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientSendError(f"twilio connection error ({type(exc).__name__})") from exc
        if not response.is_success:
            raise _map_error(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientSendError(f"twilio list unreadable (HTTP {response.status_code})") from exc
        return data if isinstance(data, dict) else {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> TwilioNotifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _post(self, resource: str, form: dict[str, str], *, channel: str) -> SendResult:
        try:
            response = await self._client.post(f"{self._account_url}/{resource}", data=form)
        except httpx.TimeoutException as exc:
            # The request may still have reached Twilio; the caller decides
            # whether a possible duplicate is acceptable.
            raise TransientSendError(f"twilio timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientSendError(f"twilio connection error ({type(exc).__name__})") from exc
        if response.is_success:
            return _parse_success(response)
        raise _map_error(response, channel)


def _parse_success(response: httpx.Response) -> SendResult:
    try:
        data = response.json()
        return SendResult(provider_id=str(data["sid"]), status=str(data.get("status", "queued")))
    except (ValueError, KeyError, TypeError) as exc:
        # A 2xx without a sid means we cannot track the message; retrying could
        # double-send, so it is surfaced as a plain NotifierError for a person.
        raise NotifierError(f"twilio success without sid (HTTP {response.status_code})") from exc


def _map_error(response: httpx.Response, channel: str = "sms") -> NotifierError:
    status = response.status_code
    code = _error_code(response)
    label = f"twilio error {code or '-'} (HTTP {status})"
    if status == 429 or code == RATE_LIMIT_CODE or code in QUEUE_FULL_CODES:
        return TransientSendError(
            label, code=code or RATE_LIMIT_CODE, retry_after=_retry_after(response), throttled=True
        )
    if status >= 500:
        return TransientSendError(label, code=code, retry_after=_retry_after(response))
    fact, reason = facts.fact_of(code, channel), None
    if fact is None and status in (401, 403):
        # No code that names the account: a burst of these pauses the lane.
        fact, reason = facts.ACCOUNT_SUSPECT, "auth" if status == 401 else "forbidden"
    return PermanentSendError(label, code=code, fact=fact or facts.FAILED, reason=reason)


def _error_code(response: httpx.Response) -> str | None:
    try:
        data: Any = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("code") is not None:
        return str(data["code"])
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
