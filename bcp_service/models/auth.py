"""Accounts, tokens, page sessions and login throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, inspect
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str | None = Field(default=None, max_length=100)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    # prefecture id for "prefecture"; institution id for "hub", "institution" and "nurse".
    scope_id: int | None = Field(default=None)
    active: bool = Field(default=True)
    created_at: datetime = created_at_field()
    # Every token and page session carries the epoch it was issued under and dies when it moves on: a
    # password change or reset, a disable, a role or scope change bump it (the listeners below).
    credential_epoch: int = Field(default=0)
    # TOTP second factor: the secret encrypted with a key derived from BCP_SECRET_KEY (auth/totp.py);
    # enabled once a first code confirmed it. The last time step used is kept so a code works once.
    totp_secret: str | None = Field(default=None, max_length=200)
    totp_enabled_at: datetime | None = timestamp_field()
    totp_last_step: int | None = Field(default=None)


class ApiToken(SQLModel, table=True):
    """Bearer tokens, stored as SHA-256 hashes: short-lived login tokens and long-lived integration tokens."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=20)  # "access" | "integration"
    name: str | None = Field(default=None, max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    created_at: datetime = created_at_field()
    expires_at: datetime | None = timestamp_field()
    last_used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()
    epoch: int = Field(default=0)


class WebSession(SQLModel, table=True):
    """A page session: the cookie holds a random token; the row holds its hash and the CSRF token."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UtcDateTime())  # the absolute limit (BCP_SESSION_MINUTES)
    last_seen_at: datetime | None = timestamp_field()  # for the inactivity limit (BCP_SESSION_IDLE_MINUTES)
    epoch: int = Field(default=0)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per account and per address, shared by every API process."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)  # "user:<name>" or "ip:<address>"
    failures: int = Field(default=0)
    window_started_at: datetime = created_at_field()
    locked_until: datetime | None = timestamp_field()


class RecoveryCode(SQLModel, table=True):
    """One-time recovery codes for the second factor, stored as SHA-256 hashes (shown once, at enrolment)."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()


def _bump_epoch(target: User, value, oldvalue, _initiator) -> None:
    # Only a stored account changes (a new one starts at 0); active_history loads an expired old value first.
    if inspect(target).has_identity and oldvalue != value:
        target.credential_epoch = (target.credential_epoch or 0) + 1


# Any path that changes these (pages, API, command line, a test) ends the account's tokens and sessions.
for _attribute in (User.password_hash, User.role, User.scope_id, User.active):
    event.listen(_attribute, "set", _bump_epoch, active_history=True)
