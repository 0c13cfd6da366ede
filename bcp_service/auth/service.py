"""Accounts, login, bearer tokens and page sessions."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.auth import throttle
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import SCOPED_ROLES, Role
from bcp_service.auth.secrets import hash_password, new_token, token_hash, verify_password
from bcp_service.config import Settings
from bcp_service.errors import Conflict, FieldError, NotFound, ServiceError
from bcp_service.models import ApiToken, Institution, Prefecture, User, WebSession
from bcp_service.models.base import utcnow

log = logging.getLogger(__name__)
TOUCH_INTERVAL = timedelta(minutes=5)


class LoginLocked(ServiceError):
    status_code = 429
    error_type = "locked"

    def __init__(self, until: datetime) -> None:
        super().__init__("ログイン失敗が続いたため一時的にロックされています。しばらくしてから再度お試しください (too many failed logins)")
        self.until = until

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int((self.until - utcnow()).total_seconds())))}


class BadCredentials(ServiceError):
    status_code = 401
    error_type = "bad_credentials"


@dataclass
class IssuedToken:
    token: str
    row: ApiToken


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def create_user(
    *, session: Session, username: str, password: str, role: Role, scope_id: int | None = None,
    display_name: str | None = None,
) -> User:
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise FieldError("ユーザー名は英数字と - _ . で64文字以内 (invalid username)", field="username")
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict("このユーザー名は使われています (username exists)", field="username")
    if role in SCOPED_ROLES and scope_id is None:
        raise FieldError(f"{role} ロールには --scope が必要です (scope id required)", field="scope_id")
    if role == Role.prefecture and session.get(Prefecture, scope_id) is None:
        raise FieldError("scope: 都道府県 id が存在しません (no such prefecture)", field="scope_id")
    if role in (Role.hub, Role.institution, Role.nurse) and session.get(Institution, scope_id) is None:
        raise FieldError("scope: 施設 id が存在しません (no such institution)", field="scope_id")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise FieldError(str(exc), field="password") from exc
    user = User(username=username, password_hash=password_hash, role=role, scope_id=scope_id if role in SCOPED_ROLES else None,
                display_name=display_name)
    session.add(user)
    session.flush()
    return user


def authenticate(*, session: Session, settings: Settings, username: str, password: str, address: str) -> User:
    """Check a password against the throttle. The hash (slow by design) runs before anything is written:
    in a request's session (``db.py`` write-late) no write lock is held while it runs. Holding it from
    the start, as login did, kept SQLite's write lock 0.3-3 s per login, 40 % of a soak's ten minutes,
    while delivery receipts waited. The throttle is then read again and written under the lock."""
    keys = [f"user:{username.lower()}", f"ip:{address}"]
    until = throttle.locked_until(session, keys)
    if until is not None:  # refused without spending a hash on it
        raise LoginLocked(until)
    user = session.exec(select(User).where(User.username == username, col(User.active).is_(True))).first()
    correct = verify_password(user.password_hash if user else None, password)
    throttle.lock_rows(session, keys)  # from here on the latest counts, under the write lock (PostgreSQL: row locks)
    until = throttle.locked_until(session, keys)
    if until is not None:  # another attempt locked the account while this one was hashing
        raise LoginLocked(until)
    if not correct:
        throttle.record_failure(session, keys[0], settings.login_max_failures_account, settings)
        throttle.record_failure(session, keys[1], settings.login_max_failures_address, settings)
        log.info("auth.login_failed", extra={"user_id": user.id if user else None})
        raise BadCredentials("ユーザー名またはパスワードが違います (wrong username or password)")
    throttle.clear(session, keys[0])
    log.info("auth.login", extra={"user_id": user.id})
    return user


def issue_token(
    *, session: Session, user: User, kind: str, minutes: int | None = None, name: str | None = None
) -> IssuedToken:
    token = new_token("bcp" if kind == "access" else "bcpi")
    row = ApiToken(
        user_id=user.id, kind=kind, name=name, token_hash=token_hash(token), prefix=token[:12],
        expires_at=utcnow() + timedelta(minutes=minutes) if minutes else None,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, row=row)


def principal_for_token(*, session: Session, token: str) -> Principal | None:
    row = session.exec(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token), col(ApiToken.revoked_at).is_(None), col(User.active).is_(True))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if api_token.expires_at is not None and _aware(api_token.expires_at) <= now:
        return None
    if api_token.last_used_at is None or _aware(api_token.last_used_at) + TOUCH_INTERVAL < now:
        # Best effort, never waited for: a row that a concurrent request with the same token is touching is left
        # to it. Waiting would hold this request's pool thread for the whole of the other request, which may
        # itself need a free pool thread to finish: a burst on one shared token then stalls every thread.
        unlocked = select(ApiToken.id).where(ApiToken.id == api_token.id).with_for_update(skip_locked=True)
        session.execute(update(ApiToken).where(col(ApiToken.id).in_(unlocked)).values(last_used_at=now)
                        .execution_options(synchronize_session=False))
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), scope_id=user.scope_id)


def revoke_token(*, session: Session, principal: Principal, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (principal.role != Role.admin and row.user_id != principal.user_id):
        raise NotFound("トークンが見つかりません (token not found)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def list_tokens(*, session: Session, principal: Principal) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.kind == "integration").order_by(ApiToken.id)
    if principal.role != Role.admin:
        query = query.where(ApiToken.user_id == principal.user_id)
    return list(session.exec(query).all())


def start_web_session(*, session: Session, user: User, settings: Settings) -> tuple[str, WebSession]:
    token = new_token("s")
    row = WebSession(
        user_id=user.id, token_hash=token_hash(token), csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(minutes=settings.session_minutes),
    )
    session.add(row)
    session.flush()
    return token, row


def principal_for_session(*, session: Session, token: str) -> Principal | None:
    row = session.exec(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash(token), col(User.active).is_(True))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if _aware(web_session.expires_at) <= utcnow():
        return None
    return Principal(
        user_id=user.id, username=user.username, role=Role(user.role), scope_id=user.scope_id,
        via="session", csrf_token=web_session.csrf_token,
    )


def end_web_session(*, session: Session, token: str) -> None:
    row = session.exec(select(WebSession).where(WebSession.token_hash == token_hash(token))).first()
    if row is not None:
        session.delete(row)
        session.flush()
