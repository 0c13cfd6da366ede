"""One settings class for the whole service (pydantic-settings, ``BCP_`` prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    # Login and tokens.
    access_token_minutes: int = 12 * 60
    session_minutes: int = 12 * 60
    cookie_secure: bool | None = None  # default: secure when public_base_url is https
    login_window_minutes: int = 15
    login_lock_minutes: int = 15
    login_max_failures_account: int = 5
    login_max_failures_address: int = 20

    # Counts below this are shown as suppressed to the aggregate role (re-identification risk).
    aggregate_min_cell: int = 10

    # Pagination guard rails for list endpoints.
    page_size_default: int = 50
    page_size_max: int = 500

    @model_validator(mode="after")
    def _fill_and_check(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'bcp.sqlite3'}"
        if self.environment == "production" and self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("BCP_SECRET_KEY must be set to a real secret outside development")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_base_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
