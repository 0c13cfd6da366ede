"""Faults a disaster brings, injectable into the simulator (issue 19; issue 15 items 5 and 8).

``POST /_sim/faults`` with any of the fields of ``Faults`` (``GET`` shows them, ``DELETE`` clears):

- ``outage_seconds``: the provider is down for N seconds: every create answers 500 / 20500
  (``outage_mode="timeout"``: the request hangs ``timeout_seconds`` first, as a dead load balancer).
- ``api_errors``: ``{"21611": 0.1, "429": 0.05, "500": 0.02, "21614": 0.01, "timeout": 0.01}``: a
  share of create requests answered with that error (21611 sender queue full, 21614 not a mobile...).
- ``delivery_errors``: ``{"30001": 0.05, "30003": 0.1, ...}``: a share of accepted messages end
  ``undelivered`` (``failed`` for 30001/30002) with that code (30001, 30003–30008).
- ``account_error`` / ``account_error_seconds`` (issue 26.1): the account or sender is refused:
  every create and the account fetch answer that error (``20003`` 401 a rotated token, ``20005``
  403 a suspended account, ``21408`` Japan not enabled, ``21606``/``21612`` sender not allowed; the
  last three refuse creates only) for N seconds (0: until cleared).
- ``lost_answers``: the next N creates (messages or calls) are accepted and carried out, but their
  answer is held ``timeout_seconds`` first: a client with a shorter timeout never learns the SID, as
  when a connection drops after Twilio took the request (issue 26, item 4).
- ``queue_segments`` / ``drain_segments_per_second``: the sender's queue at Twilio. Each accepted
  message adds its segments; the queue drains at the sender's rate; a message that does not fit is
  refused with 21611, as Twilio refuses when a sender's queue is full. A message whose wait in the
  queue is longer than its ``ValidityPeriod`` fails with 30001 instead of arriving late.

Also ``GET …/Messages/{Sid}.json`` (fetch), which the reconciliation job needs; helper "tel" owns
the full fetch/list surface of the simulator and may replace this one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bcp_service.twilio_sim.resources import twilio_error

API_ERRORS = {
    "21611": (400, "This 'From' number has exceeded the maximum number of queued messages"),
    "21614": (400, "'To' number is not a valid mobile number"),
    "21211": (400, "The 'To' number is not a valid phone number."),
    "429": (429, "Too Many Requests"),
    "500": (500, "Internal Server Error"),
    "503": (503, "Service Unavailable"),
}
# The account or sender refused (issue 26.1): (HTTP status, message, refuses the account fetch too).
ACCOUNT_ERRORS = {
    "20003": (401, "Authenticate", True),
    "20005": (403, "Account not active", True),
    "21408": (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number", False),
    "21606": (400, "The 'From' phone number provided is not a valid message-capable Twilio phone number", False),
    "21612": (400, "The 'To' phone number is not currently reachable via SMS from this 'From' number", False),
}
DELIVERY_CODES = ("30001", "30002", "30003", "30004", "30005", "30006", "30007", "30008")
FAILED_CODES = ("30001", "30002")  # Twilio reports these as "failed", the rest as "undelivered"


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outage_seconds: float = Field(0.0, ge=0)
    outage_mode: str = Field("500", pattern="^(500|timeout)$")
    timeout_seconds: float = Field(30.0, ge=0)
    api_errors: dict[str, float] = Field(default_factory=dict)
    delivery_errors: dict[str, float] = Field(default_factory=dict)
    lost_answers: int = Field(0, ge=0)
    queue_segments: int = Field(0, ge=0, description="0 = no queue limit")
    drain_segments_per_second: float = Field(10.0, gt=0)
    account_error: str | None = Field(None, description="one of ACCOUNT_ERRORS")
    account_error_seconds: float = Field(0.0, ge=0, description="0 = until cleared")


class FaultState:
    def __init__(self) -> None:
        self.faults = Faults()
        self.outage_until = 0.0
        self.account_until = 0.0
        self.backlog = 0.0  # segments waiting in the sender's queue
        self.backlog_at = time.monotonic()

    def configure(self, faults: Faults) -> None:
        for code in faults.api_errors:
            if code not in API_ERRORS and code != "timeout":
                raise ValueError(f"unknown api error {code}; known: {sorted(API_ERRORS)} and 'timeout'")
        if faults.account_error is not None and faults.account_error not in ACCOUNT_ERRORS:
            raise ValueError(f"unknown account error {faults.account_error}; known: {sorted(ACCOUNT_ERRORS)}")
        for code in faults.delivery_errors:
            if code not in DELIVERY_CODES:
                raise ValueError(f"unknown delivery error {code}; known: {DELIVERY_CODES}")
        self._drain()  # what left at the old rate is gone before the new rate applies
        self.faults = faults
        self.outage_until = time.monotonic() + faults.outage_seconds if faults.outage_seconds else 0.0
        self.account_until = time.monotonic() + faults.account_error_seconds if faults.account_error_seconds else 0.0

    def account_error(self, *, fetch: bool = False) -> JSONResponse | None:
        """The injected account refusal, while it lasts (``fetch``: for the account fetch)."""
        code = self.faults.account_error
        if code is None or (self.account_until and time.monotonic() >= self.account_until):
            return None
        status, message, on_fetch = ACCOUNT_ERRORS[code]
        if fetch and not on_fetch:
            return None
        return twilio_error(status, int(code), message)

    def _drain(self) -> None:
        now = time.monotonic()
        self.backlog = max(0.0, self.backlog - (now - self.backlog_at) * self.faults.drain_segments_per_second)
        self.backlog_at = now


def fault_state(state: Any) -> FaultState:
    faults = getattr(state, "faults", None)
    if faults is None:
        faults = state.faults = FaultState()
    return faults


async def refuse(state: Any, form: dict[str, str], segments: int = 1) -> JSONResponse | None:
    """The injected answer to a create request, or None to accept it (and queue its segments)."""
    faults = fault_state(state)
    config = faults.faults
    if time.monotonic() < faults.outage_until:
        state.count("fault_outage")
        if config.outage_mode == "timeout":
            await asyncio.sleep(config.timeout_seconds)
        return twilio_error(500, 20500, "Internal Server Error")
    for code, rate in config.api_errors.items():
        if state.chance(rate):
            state.count(f"fault_{code}")
            if code == "timeout":
                await asyncio.sleep(config.timeout_seconds)
                return twilio_error(504, 20504, "Gateway Timeout")
            status, message = API_ERRORS[code]
            headers = {"Retry-After": "1"} if status == 429 else {}
            return twilio_error(status, 20429 if code == "429" else int(code), message, **headers)
    if config.queue_segments and "Body" in form:
        faults._drain()
        if faults.backlog + segments > config.queue_segments:
            state.count("fault_21611_queue_full")
            status, message = API_ERRORS["21611"]
            return twilio_error(status, 21611, message)
        faults.backlog += segments
    return None


async def lose_answer(state: Any) -> None:
    """Hold the answer to a create just accepted when a lost answer is due (``lost_answers``)."""
    faults = fault_state(state)
    if faults.faults.lost_answers <= 0:
        return
    faults.faults = faults.faults.model_copy(update={"lost_answers": faults.faults.lost_answers - 1})
    state.count("fault_lost_answer")
    await asyncio.sleep(faults.faults.timeout_seconds)


def queue_wait(state: Any) -> float:
    """Seconds the message just queued waits before it leaves (the sender's queue drains in order)."""
    faults = fault_state(state)
    return faults.backlog / faults.faults.drain_segments_per_second if faults.faults.queue_segments else 0.0


def delivery_error(state: Any, form: dict[str, str]) -> tuple[str, str] | None:
    """(final status, error code) when this accepted message is to fail delivery, else None."""
    faults = fault_state(state)
    validity = form.get("ValidityPeriod")
    if validity and validity.isdigit() and queue_wait(state) > int(validity):
        state.count("fault_expired")
        return "failed", "30001"
    for code, rate in faults.faults.delivery_errors.items():
        if state.chance(rate):
            state.count(f"fault_{code}")
            return ("failed" if code in FAILED_CODES else "undelivered"), code
    return None


def plan(
    state: Any, form: dict[str, str], planned: tuple[list[str], str | None, str]
) -> tuple[list[str], str | None, str]:
    """The simulator's plan for a message's callbacks, with an injected delivery error if one is due."""
    injected = delivery_error(state, form)
    if injected is None:
        return planned
    final, code = injected
    statuses = (
        [final] if final == "failed" else [s for s in planned[0] if s not in ("delivered", "undelivered")] + [final]
    )
    return statuses, code, final


def install(app: FastAPI, state: Any) -> None:
    """The control endpoints (the fetch of a message is the simulator's own, twilio_sim/resources.py)."""

    @app.get("/_sim/faults")
    async def get_faults() -> dict[str, Any]:
        faults = fault_state(state)
        left = max(0.0, faults.outage_until - time.monotonic())
        faults._drain()
        account_left = max(0.0, faults.account_until - time.monotonic()) if faults.account_until else None
        return {
            **faults.faults.model_dump(),
            "outage_left_seconds": round(left, 1),
            "account_error_left_seconds": None if account_left is None else round(account_left, 1),
            "queued_segments": round(faults.backlog, 1),
        }

    @app.post("/_sim/faults")
    async def set_faults(changes: dict[str, Any]) -> JSONResponse:
        try:
            fault_state(state).configure(Faults.model_validate(changes))
        except ValueError as exc:  # pydantic's ValidationError is one too
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return JSONResponse(await get_faults())

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        fault_state(state).configure(Faults())
        return await get_faults()
