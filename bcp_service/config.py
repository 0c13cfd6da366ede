"""One settings class for the whole service (pydantic-settings, ``BCP_`` prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bcp_service.intensity import Intensity, IntensityField
from bcp_service.senders import Senders, check_hub_phone, check_senders, check_voice_name, resolve_senders

PLACEHOLDER_SECRETS = {"dev-insecure-secret-change-me", "changeme", ""}
DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BCP_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    timezone: str = "Asia/Tokyo"
    default_region: str = "JP"
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("dev-insecure-secret-change-me")
    log_level: str = "INFO"
    # PostgreSQL: the password `bcp-service db upgrade --service-role NAME` gives the service's login role
    # (docker-compose.yml; README "Deployment"). The service never runs as the database owner (issue 23.3).
    database_service_password: SecretStr = SecretStr("")

    # Login and tokens.
    access_token_minutes: int = 12 * 60
    session_minutes: int = 12 * 60
    cookie_secure: bool | None = None  # default: secure when public_base_url is https
    login_window_minutes: int = 15
    login_lock_minutes: int = 15
    login_max_failures_account: int = 5
    login_max_failures_address: int = 20
    # Credentials with a life (issue 23.2, README "Access and privacy"): session_minutes above is a page
    # session's absolute limit; it also ends after this long without a request.
    session_idle_minutes: int = Field(30, ge=1)
    api_token_default_days: int = Field(90, ge=1)  # an API token made without a lifetime
    api_token_max_days: int = Field(365, ge=1)  # the longest lifetime a token may be given
    # TOTP for admin, prefecture and hub accounts: None means on in production, off elsewhere (demo, tests).
    require_two_factor: bool | None = None
    credential_check_seconds: float = Field(2.0, gt=0, le=5)  # an open board stream re-checks its login

    # wall (issue 23): the proxies whose X-Forwarded-For (and -Proto) is believed, comma-separated
    # addresses or networks ("10.0.0.5,172.16.0.0/12"). Empty (the default): the headers are ignored and
    # the lockout and the audit use the connecting peer; loopback is not trusted unless named here.
    trusted_proxies: str = ""

    # Counts below this are shown as suppressed to the aggregate role (re-identification risk).
    aggregate_min_cell: int = 10

    # Safety-check rounds and answer links (docs/rounds.md).
    round_default_hours: float = 72.0  # deadline when a round is started without one
    round_link_grace_hours: float = 24.0  # answer links keep working this long after the deadline
    # Twilio signs the exact public URL; behind a proxy the request's Host is not it.
    webhook_base_url: str | None = None  # default: public_base_url
    # Twilio gives a webhook 15 s. A receipt or reply whose write cannot commit within this (a long
    # writer holds SQLite's lock, a slow disk) is journaled (fsynced) and answered; it is still applied
    # (webhooks/journal.py, docs/faults.md).
    webhook_commit_wait_seconds: float = Field(5.0, gt=0, le=12)
    # Issue 28.3: a webhook neither the database nor the journal can take is answered 503, and Twilio
    # tries it again only when its URL says so: connection overrides (``#rc=..&rp=..&tt=..``, Twilio's
    # "Webhooks connection overrides") on every callback URL we give it. 0 retries: no fragment.
    webhook_retry_count: int = Field(3, ge=0, le=5)  # rc: Twilio allows 0..5
    webhook_retry_policy: str = Field("5xx,ct,rt", pattern=r"^(all|4xx|5xx|ct|rt)(,(all|4xx|5xx|ct|rt))*$")  # rp
    webhook_retry_total_ms: int = Field(15000, ge=100, le=15000)  # tt: every try and retry within this
    # A second journal directory (another disk or volume), used when the first cannot take a line.
    webhook_journal_fallback_dir: Path | None = None

    # Sending (bcp-service worker). The numbers of the retry policy live here, nowhere else.
    notifier: Literal["console", "fake", "twilio"] = "console"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    # Japan (docs/deployment-twilio-japan.md): SMS from a sender ID or a Messaging Service, calls from
    # a 050 number or a verified caller ID. twilio_from_number is the old single sender (fills both).
    twilio_sms_sender: str | None = None  # alphanumeric sender ID ("KANAGAWA") or a non-Japanese number
    twilio_messaging_service_sid: str | None = None
    twilio_voice_caller_id: str | None = None  # E.164
    twilio_from_number: str | None = None
    sms_replies: bool = False  # Twilio has no two-way SMS in Japan: texts invite replies only when on
    # First words of every text and call: who sends it (the prefecture or hub). The demo's region is
    # Chiba; a real deployment must name itself (refused unset with Twilio in production, issue 26.5).
    sender_name: str = Field("千葉県", min_length=1, max_length=10)
    voice_name: str = "Polly.Mizuki"  # a ja-JP voice of <Say>: Polly.Mizuki, Polly.Takumi, Google.ja-JP-...
    # Issue 26 (voice): the hub's number a caller to the 050 number hears when no open check matches
    # their number (E.164, a Japanese number; unset: the message names none).
    hub_phone: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    twilio_status_callbacks: bool = True
    sms_reply_ack: bool = True  # answer an SMS reply with a short confirmation (TwiML)
    # Shared by all workers; 0 = no limit. In segments, as Twilio counts a sender's rate and queue
    # (every safety-check SMS is 2 UCS-2 segments): 20 segments/s is 10 messages/s.
    send_rate_per_second: float = 20.0
    send_rate_unit: Literal["segments", "messages"] = "segments"
    send_concurrency: int = 20  # requests in flight per worker
    send_batch_size: int = 100  # messages claimed per database round trip
    send_timeout_seconds: float = 10.0
    # Retries last until a message no longer matters (its validity or its round's deadline): issue 19.
    send_validity_seconds: int = 4 * 3600  # not sent after this; also Twilio's ValidityPeriod (1..36000)
    send_max_attempts: int = 0  # optional cap on tries that may have reached the provider; 0 = none
    send_max_throttled: int = 0  # optional cap on 429/21611 answers (nothing was sent); 0 = none
    send_breaker_failures: int = 10  # transient failures in a row that pause a lane (the provider is down)
    send_breaker_pause_seconds: float = 2.0  # first pause before a probe; doubles up to 30 s
    send_retry_base_seconds: float = 2.0
    send_retry_max_seconds: float = 300.0
    send_retry_jitter: float = 1.0  # 1.0 = full jitter: wait uniformly in [0, backoff]
    # Claims are renewed every quarter of this while the worker lives: a dead worker's rows (critical
    # patients first) go out again within seconds, not minutes.
    send_reclaim_after_seconds: float = 20.0
    send_idle_poll_seconds: float = 1.0
    # Reconciliation (bcp_service/outbox/reconcile.py): messages still "sent" this long after their last
    # status are fetched from the provider, so a lost receipt never leaves a check wrong. 0 = off.
    send_reconcile_after_minutes: float = 10.0
    send_reconcile_every_seconds: float = 60.0
    # quiet (issue 28.4): bounded, quiet failure paths.
    send_reconcile_max_misses: int = 5  # a message the provider does not know (404) is given up after this many fetches
    send_stop_wait_seconds: float = (
        10.0  # on stop, in-flight sends get this long (at most half the lease), then are cut
    )
    early_status_max_age_minutes: float = 60.0  # an early status never matched this long is deleted
    log_repeat_interval_seconds: float = 60.0  # a fault's log line: one per cause per interval, with a count

    # The scheduler process (bcp-service scheduler): schedules, trigger starts, escalation (docs/escalation.md).
    scheduler_tick_seconds: float = 5.0  # how often it looks for due work; edits are seen at the next tick
    schedule_misfire_grace_seconds: int = 900  # a fire time this late still runs once (misfire policy run_once)
    schedule_min_interval_minutes: int = 60  # schedules may not fire more often than this
    heartbeat_seconds: float = 10.0
    heartbeat_stale_seconds: float = 30.0  # a component silent this long is reported stale

    # Operations (bcp_service/ops, docs/deployment.md): health, metrics, backups.
    # /healthz and the journal probe say "cannot write" below this much free space (SQLite's file system
    # and the journal's: a rolled-back SQLite write puts nothing on disk, so space is checked directly).
    health_min_free_mb: int = 64
    # /metrics: admins, or a scraper sending "Authorization: Bearer <this>" (empty = admins only).
    metrics_token: SecretStr = SecretStr("")
    # `bcp-service db backup/restore` on PostgreSQL: the client programs (their directory on PATH by default).
    pg_dump_path: str = "pg_dump"
    pg_restore_path: str = "pg_restore"

    # Escalation of unanswered checks (docs/escalation.md): minutes from the start of the round.
    # A round or schedule may carry its own policy; this is the default. [] = no escalation.
    escalation_steps: list[dict] = [
        {"after_minutes": 15, "action": "resend"},
        {"after_minutes": 30, "action": "family"},
        {"after_minutes": 45, "action": "call"},
        {"after_minutes": 60, "action": "unreachable"},
    ]
    # Per risk tier (critical, high): minutes, not a quarter hour, for someone who cannot be without the
    # device. A tier not listed uses escalation_steps; a round's own policy applies to every tier.
    escalation_tier_steps: dict[str, list[dict]] = {
        "critical": [
            {"after_minutes": 3, "action": "resend"},
            {"after_minutes": 6, "action": "family"},
            {"after_minutes": 10, "action": "call"},
            {"after_minutes": 20, "action": "unreachable"},
        ],
        "high": [
            {"after_minutes": 10, "action": "resend"},
            {"after_minutes": 20, "action": "family"},
            {"after_minutes": 30, "action": "call"},
            {"after_minutes": 45, "action": "unreachable"},
        ],
    }
    escalation_batch_size: int = 500  # checks claimed per transaction by the escalation job
    # Issue 25.4 (triage): advance notices (事前連絡, the 注意報 stage) are not emergencies. Their own
    # slower ladder (every tier; a round's own policy still wins), and their family and call steps
    # wait out the quiet hours (local time, settings.timezone): a notice started at 02:00 reaches no
    # family before the quiet hours end. Emergency rounds escalate at any hour.
    notice_escalation_steps: list[dict] = [
        {"after_minutes": 120, "action": "resend"},
        {"after_minutes": 360, "action": "family"},
        {"after_minutes": 480, "action": "call"},
    ]
    notice_quiet_hours: tuple[str, str] = ("21:00", "07:00")

    # Outside-event triggers (POST /api/v1/triggers; docs/triggers.md).
    trigger_min_intensity: IntensityField = Intensity.FIVE_LOWER  # "5-", "5弱", "震度5弱"... (JMA intensity)
    trigger_min_level: int = 4  # 警戒レベル for hazards missing from trigger_hazard_levels
    # Per hazard (docs/triggers.md): 3 = 高齢者等避難, the cue for people at home on devices.
    # Tsunami: 3 津波注意報, 4 津波警報, 5 大津波警報.
    trigger_hazard_levels: dict[str, int] = {
        "heavy_rain": 3,
        "flood": 3,
        "landslide": 3,
        "storm_surge": 3,
        "typhoon": 3,
        "tsunami": 3,
        "blackout": 4,
        "other": 4,
    }
    trigger_delay_seconds: int = 180  # wait this long so a correction or cancellation can still stop it
    trigger_aftershock_window_hours: float = 6.0
    trigger_max_event_age_hours: float | None = 24.0  # older reports start nothing (a replayed feed)
    trigger_accept_drill: bool = False  # 訓練 bulletins start a drill round instead of nothing
    trigger_accept_test: bool = False  # 試験 bulletins likewise
    # Advance notice (事前連絡) from a warning feed's advisory stage: hazard → lowest level (2 = 注意報)
    # that starts an advance-notice round where the safety-check threshold is not reached. {} = off.
    # blackout: planned shutoffs posted to /api/v1/outages (2: any of them where device users live).
    advance_notice_levels: dict[str, int] = {"heavy_rain": 2, "flood": 2, "storm_surge": 2, "blackout": 2}
    trigger_keep_raw: bool = True  # keep each bulletin's body (public data) next to its digest

    # Incidents (docs/incidents.md): the rounds of one disaster in one area, one conversation per person.
    # A disaster round joins an open incident of the same kind (real or drill) whose last round started
    # at most this long ago and that shares a municipality or the JMA event (a tsunami's is its quake's).
    incident_window_minutes: int = 360
    # An answer given in one round counts for a later round of the incident while it is this fresh,
    # per hazard of the later round (minutes); hazards not listed use "other". Older: the person is asked again.
    incident_answer_fresh_minutes: dict[str, int] = {
        "earthquake": 180,
        "tsunami": 60,
        "blackout": 180,
        "heavy_rain": 360,
        "flood": 360,
        "landslide": 360,
        "storm_surge": 360,
        "typhoon": 360,
        "other": 120,
    }
    # What a later hazard adds to the conversation: asked once per person and incident, only of those who
    # have not already said it (a tsunami after a quake: have you evacuated?). Template per hazard.
    incident_added_questions: dict[str, str] = {"tsunami": "incident_evacuation"}
    # Contact budget per person across rounds: at most one SMS and one call in this many minutes (0 = off);
    # a later message waits. Escalation of critical-tier patients is exempt.
    contact_budget_minutes: int = 10

    # Power outages posted to /api/v1/outages (docs/outages.md): the round rule.
    outage_round_min_hours: float = 3.0  # an outage lasting (or expected to last) this long can start a round
    outage_round_ventilator_only: bool = True  # ... only where an active ventilator user lives
    # A planned shutoff (planned=true, start ahead) starts an advance-notice round for these patients
    # (docs/outages.md) once its start is this close; a source re-posts its list, so later ones follow.
    outage_notice_hours_ahead: float = 72.0
    outage_notice_therapies: list[Literal["ventilator", "oxygen", "suction", "child"]] = ["ventilator", "oxygen"]

    # JMA feed poller (bcp-service feeds; docs/feeds.md). The high-frequency feeds are refreshed every minute.
    feeds_urls: list[str] = [
        "https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml",  # 高頻度（地震火山）
        "https://www.data.jma.go.jp/developer/xml/feed/extra.xml",  # 高頻度（随時）: warnings
    ]
    feeds_poll_seconds: float = 60.0
    feeds_timeout_seconds: float = 10.0
    feeds_max_attempts: int = 5  # fetches of one bulletin before it is set aside as failed
    feeds_bulletin_hosts: list[str] = ["www.data.jma.go.jp"]  # bulletins are fetched only from these hosts
    # Entry titles (= Control/Title) worth fetching; VPWW53 repeats VPWW54 in the older format.
    feeds_titles: list[str] = [
        "震度速報",
        "震源・震度に関する情報",
        "気象警報・注意報（Ｈ２７）",
        "土砂災害警戒情報",
        "津波警報・注意報・予報a",
        "津波情報a",
    ]

    # Live status board (docs: README "Status board and nurse pages"; bcp_service/live/).
    board_poll_seconds: float = 0.3  # SQLite: how often a watcher looks for new answers (no LISTEN there)
    board_safety_poll_seconds: float = 5.0  # PostgreSQL: a cheap look even without a notification
    board_min_push_seconds: float = 0.25  # a burst of answers becomes one push per this interval
    board_keepalive_seconds: float = 15.0
    board_stream_max_seconds: float = 600.0  # then the browser reconnects (and is authenticated again)
    board_list_limit: int = 50  # rows in the priority and non-responder lists on the live board
    board_print_limit: int = 1000  # rows in the print view and the CSV export

    # Pagination guard rails for list endpoints.
    page_size_default: int = 50
    page_size_max: int = 500

    # Request bodies, enforced while reading (bcp_service/security.py): imports use import_max_bytes,
    # disaster triggers MAX_BULLETIN_BYTES (JMA XML), webhooks 64 KiB, answer and login forms 16 KiB.
    api_max_body_bytes: int = 1024 * 1024

    # shed (issue 29.3): load shedding (bcp_service/admission.py). Ordinary pages and API calls in flight per
    # process (0: by engine, 6 on SQLite, the pool's size on PostgreSQL); one that finds no room within
    # shed_wait_seconds, or (SQLite) waits that long for the write lock, or for a pooled connection that
    # long, gets 503 with Retry-After. Answer links, Twilio webhooks and nurse results are never shed.
    shed_max_requests: int = Field(0, ge=0)
    shed_wait_seconds: float = Field(3.0, gt=0, le=20)
    shed_retry_after_seconds: int = Field(5, ge=1, le=300)
    db_pool_timeout_seconds: float = Field(10.0, gt=0, le=60)  # the API's wait for a pooled connection

    # CSV import limits.
    import_max_bytes: int = 50 * 1024 * 1024
    import_max_cell_chars: int = 2000
    import_max_reported_errors: int = 10_000

    # plans (issue 27.8): the largest finished BCP file (.docx or .pdf) an institution may upload.
    plan_max_bytes: int = 10 * 1024 * 1024

    # chan (issue 26.1): a lane the provider refuses for the account or sender pauses (bcp_service/lanes.py).
    send_lane_check_seconds: float = Field(2.0, gt=0)  # how often a worker reads the paused lanes
    send_account_probe_seconds: float = Field(30.0, gt=0)  # how often a paused lane is probed (account fetch)
    send_account_burst: int = Field(3, ge=1)  # 401/403 in a row naming no account code that pause a lane

    @model_validator(mode="after")
    def _fill_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'bcp.sqlite3'}"
        if self.environment == "production" and self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("BCP_SECRET_KEY must be set to a real secret outside development")
        check_voice_name(self.voice_name)
        check_hub_phone(self.hub_phone)
        if self.notifier == "twilio":
            self._check_twilio()
        return self

    def _check_twilio(self) -> None:
        # Checked only when Twilio is the chosen notifier, so development needs no account.
        token = self.twilio_auth_token.get_secret_value()
        if not self.twilio_account_sid or not token:
            raise ValueError("BCP_TWILIO_ACCOUNT_SID and BCP_TWILIO_AUTH_TOKEN are required with BCP_NOTIFIER=twilio")
        check_senders(self.senders, account_sid=self.twilio_account_sid, sms_replies=self.sms_replies)
        if self.environment == "production" and (
            "sender_name" not in self.model_fields_set or self.sender_name in NAMELESS_SENDERS
        ):
            raise ValueError(
                "BCP_SENDER_NAME must name who sends, the prefecture or the hub (e.g. 千葉県, at most 10 "
                "characters): texts from a sender people cannot place (【在宅医療】) are what people in "
                "Japan are taught to distrust"
            )
        if self.environment == "production" and token in PLACEHOLDER_SECRETS | {"simulator-auth-token"}:
            raise ValueError("BCP_TWILIO_AUTH_TOKEN must be a real secret outside development")

    @model_validator(mode="after")
    def _check_validity(self) -> Settings:
        if not 1 <= self.send_validity_seconds <= 36000:
            raise ValueError("BCP_SEND_VALIDITY_SECONDS must be between 1 and 36000 (Twilio's ValidityPeriod)")
        return self

    @property
    def senders(self) -> Senders:
        return resolve_senders(
            sms_sender=self.twilio_sms_sender,
            messaging_service_sid=self.twilio_messaging_service_sid,
            caller_id=self.twilio_voice_caller_id,
            legacy_from_number=self.twilio_from_number,
        )

    @property
    def webhook_base(self) -> str:
        return (self.webhook_base_url or self.public_base_url).rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def two_factor_required(self) -> bool:
        if self.require_two_factor is not None:
            return self.require_two_factor
        return self.environment == "production"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_base_url.startswith("https://")


NAMELESS_SENDERS = frozenset({"在宅医療", "安否確認", "在宅医療の安否確認"})


@lru_cache
def get_settings() -> Settings:
    return Settings()
