"""Knobs for the Twilio simulator; all of them can be changed at runtime via /_sim/config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The tests' and load tests' token: public, so a simulator using it serves only loopback (server.run_sim).
PLACEHOLDER_AUTH_TOKEN = "simulator-auth-token"


class SimConfig(BaseModel):
    # Unknown keys are refused so a typo in a load-test script fails loudly
    # instead of silently running without the intended fault injection.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Twilio's pattern (AC and 32 hex digits), so the official client and the schemas accept it.
    account_sid: str = Field("AC5130a7000000000000000000000000a1", pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = PLACEHOLDER_AUTH_TOKEN  # never served by /_sim/config
    latency_ms: int = Field(0, ge=0)
    rate_limit_per_second: float = Field(0, ge=0, description="0 means unlimited")
    permanent_failure_numbers: set[str] = Field(default_factory=set)
    # Numbers treated as landlines (SMS refused with 21614) besides those phonenumbers calls fixed lines.
    landline_numbers: set[str] = Field(default_factory=set)
    permanent_failure_rate: float = Field(0.0, ge=0.0, le=1.0)
    transient_failure_rate: float = Field(0.0, ge=0.0, le=1.0)
    callback_statuses: list[str] = Field(default_factory=lambda: ["sent", "delivered"])
    undelivered_rate: float = Field(0.0, ge=0.0, le=1.0)
    out_of_order_rate: float = Field(0.0, ge=0.0, le=1.0)
    callback_delay_ms: int = Field(0, ge=0)
    # Each status callback posted this many times at once (a proxy or a retry after a cut connection),
    # spread over callback_targets when set: base URLs (scheme://host:port) of the API processes behind
    # the one public URL, as a load balancer spreads them. The signature stays over the public URL.
    callback_copies: int = Field(1, ge=1, le=5)
    callback_targets: list[str] = Field(default_factory=list)
    callback_concurrency: int = Field(50, ge=1)
    seed: int | None = None
    inbound_webhook_url: str | None = None
    # The voice URL of the 050 number (Twilio's number configuration): where a call to it is sent.
    voice_webhook_url: str | None = None
    # A number mapped to None never answers; numbers not listed press default_voice_digits.
    voice_answers: dict[str, str | None] = Field(default_factory=dict)
    default_voice_digits: str | None = "1"
    # Sender shown on messages sent through a Messaging Service (Twilio picks one from the pool).
    messaging_service_from: str = "+15005550006"
    public_base_url: str | None = None
    # A simulated recipient opens the answer link in a share of messages and taps a button (off by default).
    answer_rate: float = Field(0.0, ge=0.0, le=1.0)
    answer_delay_ms: int = Field(2000, ge=0)
    # Answers spread over minutes as in real drills (answer_curve.py); 0 = the fixed answer_delay_ms.
    answer_curve_mode_seconds: float = Field(0.0, ge=0)
    answer_speed: float = Field(1.0, gt=0)
    max_records: int = Field(1_000_000, ge=1)
    # The account's own refusals (twilio_sim/numbers.py account_refusal): country codes ("+81") whose
    # geo permission is off (21408), recipients who sent STOP (21610), the numbers the account owns or
    # verified (empty: any; else another caller ID gets 21210), senders not allowed (21606) and
    # numbers no route reaches (21612).
    geo_permissions_off: set[str] = Field(default_factory=set)
    unsubscribed_numbers: set[str] = Field(default_factory=set)
    owned_numbers: set[str] = Field(default_factory=set)
    refused_senders: set[str] = Field(default_factory=set)
    unreachable_numbers: set[str] = Field(default_factory=set)

    def digits_for(self, number: str) -> str | None:
        if number in self.voice_answers:
            return self.voice_answers[number]
        return self.default_voice_digits
