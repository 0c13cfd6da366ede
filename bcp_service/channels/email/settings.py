"""The SMTP server e-mail goes through (``BCP_SMTP_*``), read once per process.

Kept in the channel's folder rather than ``config.Settings`` so that adding the channel touches no shared
module (docs/architecture.md, "Adding a channel"); it follows the same rules: ``BCP_`` prefix, the
password a ``SecretStr``, nothing sent when no server is set.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BCP_SMTP_", env_file=".env", extra="ignore")

    host: str | None = None  # None: e-mail is not configured (development: logged and not sent)
    port: int = 587
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True  # STARTTLS after connecting (port 587); ``tls`` for implicit TLS (465)
    tls: bool = False
    sender: str = "bcp-service@localhost"  # the From address
    timeout_seconds: float = 10.0


@lru_cache
def email_settings() -> EmailSettings:
    return EmailSettings()
