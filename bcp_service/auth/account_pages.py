"""The signed-in person's own account (every role): change the password, the second factor (enrol,
new recovery codes, turn off where not required) and their own API tokens (make, list, revoke).

Every change here is a credential event in the audit log (``events.record``). A password change ends
every other session and token of the account (its epoch moves) and starts a fresh session for this one.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from bcp_service.auth import events, service, totp
from bcp_service.auth.deps import ALL_ROLES, Access
from bcp_service.auth.login import sign_in
from bcp_service.auth.principal import Principal
from bcp_service.auth.secrets import hash_password, verify_password
from bcp_service.db import SessionDep
from bcp_service.errors import FieldError, ServiceError
from bcp_service.models import User
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/account", include_in_schema=False)
Anyone = Annotated[Principal, Depends(Access(*ALL_ROLES))]
Text = Annotated[str, Form(max_length=200)]
NOTICES = {
    "password": "パスワードを変更しました。ほかの画面やAPIトークンはすべて無効になりました。",
    "revoked": "トークンを無効にしました。",
    "off": "二段階認証を解除しました。",
}

register_home_link("/account", "自分のアカウント", "パスワード変更・二段階認証・自分のAPIトークン", tuple(ALL_ROLES))


def _me(session: Session, principal: Principal) -> User:
    return session.get(User, principal.user_id)


def account_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: dict | None = None,
    secret: tuple[str, str] | None = None,
    notice: str | None = None,
    codes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    user = _me(session, principal)
    settings = request.app.state.settings
    return page(
        "auth/account.html",
        principal,
        status_code=status_code,
        user=user,
        errors=errors or {},
        secret=secret,
        notice=notice,
        codes=codes,
        tokens=service.list_tokens(session=session, principal=principal, own=True),
        codes_left=totp.recovery_codes_left(session=session, user=user) if user.totp_enabled_at else 0,
        required=user.role in totp.PRIVILEGED and settings.two_factor_required,
        default_days=settings.api_token_default_days,
        max_days=settings.api_token_max_days,
    )


@router.get("")
def account(request: Request, principal: Anyone, session: SessionDep, done: str = ""):
    return account_page(request, session, principal, notice=NOTICES.get(done))


@router.post("/password")
def change_password(
    request: Request, principal: Anyone, session: SessionDep, current: Text = "", new: Text = "", confirm: Text = ""
):
    user = _me(session, principal)
    try:
        if not verify_password(user.password_hash, current):
            raise FieldError("現在のパスワードが違います (wrong current password)", field="current")
        if new != confirm:
            raise FieldError("新しいパスワードが確認用と一致しません (passwords differ)", field="confirm")
        if new == current:
            raise FieldError("今と違うパスワードにしてください (same as the current one)", field="new")
        try:
            new_hash = hash_password(new)
        except ValueError as exc:
            raise FieldError(str(exc), field="new") from exc
    except ServiceError as exc:
        return account_page(request, session, principal, errors={exc.field: exc.message}, status_code=exc.status_code)
    user.password_hash = new_hash  # the epoch moves: every session and token of the account ends
    session.add(user)
    events.record(session=session, actor=principal, action="auth.password_changed", request=request)
    return sign_in(request, session, user, RedirectResponse("/account?done=password", status_code=303))


def _enrol_page(
    request: Request, session: Session, principal: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    user = _me(session, principal)
    try:
        secret = totp.start_enrolment(session=session, user=user, settings=request.app.state.settings)
    except ServiceError as exc:
        return account_page(request, session, principal, errors={"disable": exc.message}, status_code=exc.status_code)
    return page(
        "auth/two_factor.html", principal, status_code=status_code, error=error, **totp.enrolment_context(user, secret)
    )


@router.get("/two-factor")
def two_factor_form(request: Request, principal: Anyone, session: SessionDep):
    """Enrol (or enrol a new phone: the old secret stops at confirmation)."""
    return _enrol_page(request, session, principal)


@router.post("/two-factor")
def two_factor_confirm(request: Request, principal: Anyone, session: SessionDep, code: Text = ""):
    user = _me(session, principal)
    settings = request.app.state.settings
    try:
        codes = totp.confirm_enrolment(session=session, user=user, code=code, settings=settings)
    except ServiceError as exc:
        return _enrol_page(request, session, principal, error=exc.message, status_code=exc.status_code)
    events.record(
        session=session, actor=principal, action="auth.two_factor_enrolled", request=request, detail="account page"
    )
    return account_page(
        request,
        session,
        principal,
        codes=codes,
        notice="二段階認証を登録しました。次回のログインから確認コードを使います。",
    )


@router.post("/two-factor/recovery-codes")
def new_recovery_codes(request: Request, principal: Anyone, session: SessionDep, code: Text = ""):
    user = _me(session, principal)
    try:
        if user.totp_enabled_at is None:
            raise FieldError("二段階認証が登録されていません (not enrolled)", field="recovery")
        used = totp.verify(session=session, user=user, code=code, settings=request.app.state.settings)
    except ServiceError as exc:
        return account_page(request, session, principal, errors={"recovery": exc.message}, status_code=exc.status_code)
    events.record(
        session=session, actor=principal, action=events.USED[used], request=request, detail="new recovery codes"
    )
    codes = totp.new_recovery_codes(session=session, user=user)
    events.record(session=session, actor=principal, action="auth.recovery_codes_renewed", request=request)
    return account_page(
        request, session, principal, codes=codes, notice="回復コードを作り直しました。前のコードは使えません。"
    )


@router.post("/two-factor/disable")
def two_factor_disable(request: Request, principal: Anyone, session: SessionDep, password: Text = ""):
    user = _me(session, principal)
    settings = request.app.state.settings
    try:
        if user.role in totp.PRIVILEGED and settings.two_factor_required:
            raise FieldError(
                "この役割では二段階認証を解除できません。端末を替えるときは管理者に解除を依頼してください "
                "(required for this role)",
                field="disable",
            )
        if not verify_password(user.password_hash, password):
            raise FieldError("パスワードが違います (wrong password)", field="disable")
    except ServiceError as exc:
        return account_page(request, session, principal, errors={exc.field: exc.message}, status_code=exc.status_code)
    totp.disable(session=session, user=user)
    events.record(
        session=session, actor=principal, action="auth.two_factor_disabled", request=request, detail="by the account"
    )
    return RedirectResponse("/account?done=off", status_code=303)


@router.post("/tokens")
def create_token(
    request: Request, principal: Anyone, session: SessionDep, name: Text = "", expires_days: Text = "", otp: Text = ""
):
    user = _me(session, principal)
    try:
        days = parse_days(expires_days)
        issued = service.create_integration_token(
            session=session,
            settings=request.app.state.settings,
            caller=user,
            owner=user,
            name=name,
            days=days,
            code=otp or None,
        )
    except ServiceError as exc:
        return account_page(
            request, session, principal, errors={exc.field or "name": exc.message}, status_code=exc.status_code
        )
    events.record(
        session=session,
        actor=principal,
        action="auth.token_created",
        request=request,
        detail=f"token {issued.row.id} for user {user.id}",
    )
    return account_page(
        request,
        session,
        principal,
        status_code=201,
        secret=(f"APIトークン「{issued.row.name}」（この画面でしか表示されません）", issued.token),
    )


def parse_days(text: str) -> int | None:
    """The lifetime field of the token forms: empty for the default, digits (full-width too) for days."""
    value = unicodedata.normalize("NFKC", text).strip()
    if not value:
        return None
    if not value.isdigit():
        raise FieldError("有効日数は数字で入力してください (expires_days must be a number)", field="expires_days")
    return int(value)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, principal: Anyone, session: SessionDep):
    try:
        row = service.revoke_token(session=session, principal=principal, token_id=token_id, own=True)
    except ServiceError as exc:
        return account_page(request, session, principal, errors={"tokens": exc.message}, status_code=exc.status_code)
    events.record(
        session=session,
        actor=principal,
        action="auth.token_revoked",
        request=request,
        detail=f"token {row.id} of user {row.user_id}",
    )
    return RedirectResponse("/account?done=revoked", status_code=303)
