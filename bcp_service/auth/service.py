"""Accounts, login, bearer tokens and page sessions."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.sql import Executable
from sqlmodel import Session, col, select

from bcp_service.auth import throttle, totp
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import SCOPED_ROLES, Role
from bcp_service.auth.secrets import hash_password, new_token, token_hash, verify_password
from bcp_service.clock import aware
from bcp_service.config import Settings
from bcp_service.errors import Conflict, FieldError, NotFound, ServiceError
from bcp_service.models import ApiToken, Institution, Prefecture, User, WebSession
from bcp_service.models.base import utcnow
from bcp_service.timeutil import local

log = logging.getLogger(__name__)
TOUCH_INTERVAL = timedelta(minutes=5)
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)  # a page session's last request, for the inactivity limit


class LoginLocked(ServiceError):
    status_code = 429
    error_type = "locked"

    def __init__(self, until: datetime) -> None:
        shown = local(until)
        super().__init__(
            f"ログイン失敗が続いたため、{shown:%m月%d日 %H:%M}（{shown.tzname()}）までロックされています。"
            "急ぐときは管理者にパスワードの再設定を依頼してください (too many failed logins)"
        )
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


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role,
    scope_id: int | None = None,
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
    user = User(
        username=username,
        password_hash=password_hash,
        role=role,
        scope_id=scope_id if role in SCOPED_ROLES else None,
        display_name=display_name,
    )
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
    if user.totp_enabled_at is None:  # otherwise the counter is cleared by a correct second factor (totp.verify)
        throttle.clear(session, keys[0])
    log.info("auth.login", extra={"user_id": user.id})
    return user


def count_failure(*, session: Session, settings: Settings, username: str) -> None:
    """A wrong second-factor code counts as a failed login of the account (the same lockout)."""
    key = f"user:{username.lower()}"
    throttle.lock_rows(session, [key])
    throttle.record_failure(session, key, settings.login_max_failures_account, settings)
    log.info("auth.second_factor_failed")


def issue_token(
    *, session: Session, user: User, kind: str, minutes: int | None = None, name: str | None = None
) -> IssuedToken:
    token = new_token("bcp" if kind == "access" else "bcpi")
    row = ApiToken(
        user_id=user.id,
        kind=kind,
        name=name,
        token_hash=token_hash(token),
        prefix=token[:12],
        expires_at=utcnow() + timedelta(minutes=minutes) if minutes else None,
        epoch=user.credential_epoch,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, row=row)


def token_days(days: int | None, settings: Settings) -> int:
    """An integration token's lifetime: chosen per token, ``api_token_default_days`` when not, never above the
    maximum (no token lives for ever)."""
    if days is None:
        return min(settings.api_token_default_days, settings.api_token_max_days)
    if not 1 <= days <= settings.api_token_max_days:
        raise FieldError(
            f"有効日数は1〜{settings.api_token_max_days}日で指定してください (expires_days out of range)",
            field="expires_days",
        )
    return days


def create_integration_token(
    *,
    session: Session,
    settings: Settings,
    caller: User,
    owner: User,
    name: str,
    days: int | None,
    code: str | None,
) -> IssuedToken:
    """An integration token, made by ``caller`` for ``owner``. A caller with a second factor gives a current
    code (or a recovery code): a stolen page session alone cannot mint a credential that outlives it."""
    label = name.strip()
    if not label or len(label) > 100:
        raise FieldError("トークンの用途を100文字以内で入力してください (a name is required)", field="name")
    lifetime = token_days(days, settings)
    if caller.totp_enabled_at is not None:
        if not code:
            raise FieldError("二段階認証の確認コードを入力してください (otp code required)", field="otp")
        totp.verify(session=session, user=caller, code=code, settings=settings)
    return issue_token(session=session, user=owner, kind="integration", name=label, minutes=lifetime * 24 * 60)


def _credential_dead(user: User, epoch: int, settings: Settings | None) -> bool:
    """A token or session issued before the account's last password, role, scope or active change, or a
    privileged account without its required second factor."""
    return epoch != user.credential_epoch or (settings is not None and totp.missing_required(user, settings))


def principal_for_token(
    *,
    session: Session,
    token: str,
    settings: Settings | None = None,
    touch: bool = True,
    touch_with: Callable[[Executable], object] | None = None,
) -> Principal | None:
    """The token's account, or None. ``touch`` records the use (at most every ``TOUCH_INTERVAL``), in ``session``
    or, given ``touch_with``, by that (the API: its own short unit of work, so that the request's session
    takes no write lock for it)."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token), col(ApiToken.revoked_at).is_(None), col(User.active).is_(True))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if (api_token.expires_at is not None and aware(api_token.expires_at) <= now) or _credential_dead(
        user, api_token.epoch, settings
    ):
        return None
    if touch and (api_token.last_used_at is None or aware(api_token.last_used_at) + TOUCH_INTERVAL < now):
        # Best effort, never waited for: a row that a concurrent request with the same token is touching is left
        # to it. Waiting would hold this request's pool thread for the whole of the other request, which may
        # itself need a free pool thread to finish: a burst on one shared token then stalls every thread.
        unlocked = select(ApiToken.id).where(ApiToken.id == api_token.id).with_for_update(skip_locked=True)
        (touch_with or session.execute)(
            update(ApiToken)
            .where(col(ApiToken.id).in_(unlocked))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), scope_id=user.scope_id)


def revoke_token(*, session: Session, principal: Principal, token_id: int, own: bool = False) -> ApiToken:
    """Revoke a token: one's own, or (an admin, unless ``own``) anyone's."""
    row = session.get(ApiToken, token_id)
    if row is None or ((own or principal.role != Role.admin) and row.user_id != principal.user_id):
        raise NotFound("トークンが見つかりません (token not found)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def list_tokens(*, session: Session, principal: Principal, own: bool = False) -> list[ApiToken]:
    """Integration tokens: one's own, or (an admin, unless ``own``) everyone's."""
    query = select(ApiToken).where(ApiToken.kind == "integration").order_by(ApiToken.id)
    if own or principal.role != Role.admin:
        query = query.where(ApiToken.user_id == principal.user_id)
    return list(session.exec(query).all())


def start_web_session(*, session: Session, user: User, settings: Settings) -> tuple[str, WebSession]:
    token = new_token("s")
    row = WebSession(
        user_id=user.id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(minutes=settings.session_minutes),
        last_seen_at=utcnow(),
        epoch=user.credential_epoch,
    )
    session.add(row)
    session.flush()
    return token, row


def principal_for_session(
    *,
    session: Session,
    token: str,
    settings: Settings,
    touch: bool = True,
    touch_with: Callable[[Executable], object] | None = None,
) -> Principal | None:
    """The page session's account, or None once it has ended: logged out, past its absolute limit, idle longer
    than ``session_idle_minutes``, or its account's epoch moved on. ``touch`` records this request as activity
    (at most once a minute); an open stream's re-check does not. ``touch_with`` as in ``principal_for_token``."""
    row = session.exec(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash(token), col(User.active).is_(True))
    ).first()
    if row is None:
        return None
    web_session, user = row
    now = utcnow()
    last_seen = aware(web_session.last_seen_at or web_session.created_at)
    if (
        aware(web_session.expires_at) <= now
        or last_seen + timedelta(minutes=settings.session_idle_minutes) <= now
        or _credential_dead(user, web_session.epoch, settings)
    ):
        return None
    if touch and last_seen + SESSION_TOUCH_INTERVAL < now:
        (touch_with or session.execute)(
            update(WebSession)
            .where(WebSession.id == web_session.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        scope_id=user.scope_id,
        via="session",
        csrf_token=web_session.csrf_token,
    )


def end_web_session(*, session: Session, token: str) -> None:
    row = session.exec(select(WebSession).where(WebSession.token_hash == token_hash(token))).first()
    if row is not None:
        session.delete(row)
        session.flush()
