"""Account administration for the admin pages: list, disable or enable, reset a password.

Disabling or resetting ends every page session and token of the account at once (its
``credential_epoch`` moves, ``models/auth.py``), so a leaver or a leaked password stops working now,
not when a session expires; re-enabling does not bring the old tokens back. A reset also lifts a
login lockout: the admin has just checked who is asking.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bcp_service.auth import account_events, throttle
from bcp_service.auth.principal import Principal
from bcp_service.auth.secrets import hash_password
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import ApiToken, Institution, Prefecture, User, WebSession
from bcp_service.models.base import utcnow

log = logging.getLogger(__name__)


def list_users(*, session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.role, User.username)).all())


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("アカウントが見つかりません (user not found)")
    return user


def _end_logins(session: Session, user: User) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.kind == "access", col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def set_active(*, session: Session, principal: Principal, user: User, active: bool) -> User:
    if user.id == principal.user_id and not active:
        raise FieldError("自分のアカウントは無効にできません (cannot disable yourself)", field="active")
    before = {"active": user.active}
    user.active = active
    session.add(user)
    if not active:
        _end_logins(session, user)
    session.flush()
    account_events.changed(session=session, principal=principal, user=user, before=before, after={"active": active})
    log.info("auth.user_active_changed", extra={"user_id": user.id, "active": active})
    return user


def reset_password(*, session: Session, user: User, password: str | None, principal: Principal | None = None) -> str:
    """Set ``password`` (or a random one when empty) and return it, to be shown once."""
    new_password = password or secrets.token_urlsafe(12)
    try:
        user.password_hash = hash_password(new_password)
    except ValueError as exc:
        raise FieldError(str(exc), field="password") from exc
    session.add(user)
    _end_logins(session, user)
    throttle.clear(session, f"user:{user.username.lower()}")
    session.flush()
    account_events.changed(
        session=session, principal=principal, user=user, before={"password": 0}, after={"password": 1}
    )
    log.info("auth.password_reset", extra={"user_id": user.id})
    return new_password


def scope_names(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    """Prefectures and institutions by id, for showing and choosing an account's scope."""
    prefectures = dict(session.exec(select(Prefecture.id, Prefecture.name).order_by(Prefecture.code)).all())
    institutions = dict(session.exec(select(Institution.id, Institution.name).order_by(Institution.name)).all())
    return prefectures, institutions
