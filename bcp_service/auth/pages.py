"""Account administration pages (admin only): create accounts, disable or enable them, reset a
password, scopes, and integration (API) tokens. Secrets are shown once, on the answer page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from bcp_service.auth import accounts, events, service, totp
from bcp_service.auth.account_pages import parse_days
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import ROLE_LABELS, SCOPED_ROLES, Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.models import User
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(Access(Role.admin))]
Text = Annotated[str, Form(max_length=200)]

register_home_link(
    "/admin/users", "アカウント管理", "アカウントの作成・無効化・パスワード再設定、APIトークン", (Role.admin,)
)


def _page(
    session: Session,
    principal: Principal,
    *,
    errors: dict | None = None,
    values: dict | None = None,
    secret: tuple[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    prefectures, institutions = accounts.scope_names(session)
    tokens: dict[int, list] = {}
    for token in service.list_tokens(session=session, principal=principal):
        tokens.setdefault(token.user_id, []).append(token)
    return page(
        "auth/users.html",
        principal,
        status_code=status_code,
        users=accounts.list_users(session=session),
        tokens=tokens,
        prefectures=prefectures,
        institutions=institutions,
        roles=ROLE_LABELS,
        scoped=SCOPED_ROLES,
        errors=errors or {},
        values=values or {"role": "nurse"},
        secret=secret,
        notice=notice,
        own=session.get(User, principal.user_id),
        create_open=any(not key.startswith("user") for key in errors or {}),
    )


@router.get("/users")
def users_page(principal: Admin, session: SessionDep, done: str = ""):
    notices = {
        "active": "アカウントの有効・無効を変更しました。",
        "revoked": "トークンを無効にしました。",
        "two_factor_off": "二段階認証を解除しました。次のログインで登録し直します。",
    }
    return _page(session, principal, notice=notices.get(done))


@router.post("/users")
def create_user_from_page(
    principal: Admin,
    session: SessionDep,
    username: Text = "",
    display_name: Text = "",
    role: Text = "",
    scope_id: Text = "",
    password: Text = "",
):
    values = {"username": username.strip(), "display_name": display_name.strip(), "role": role, "scope_id": scope_id}
    try:
        if role not in Role.__members__:
            raise ServiceError("役割を選んでください (choose a role)", field="role")
        with session.begin_nested():
            user = service.create_user(
                session=session,
                username=values["username"],
                password=password,
                role=Role(role),
                scope_id=int(scope_id) if scope_id.isdigit() and Role(role) in SCOPED_ROLES else None,
                display_name=values["display_name"] or None,
            )
    except ServiceError as exc:
        return _page(
            session,
            principal,
            errors={exc.field or "username": exc.message},
            values=values,
            status_code=exc.status_code,
        )
    return _page(session, principal, notice=f"アカウント {user.username} を作成しました。", status_code=201)


def _user_action(session: Session, principal: Principal, user_id: int, action) -> Response:
    try:
        user = accounts.get_user(session=session, user_id=user_id)
        with session.begin_nested():
            return action(user)
    except ServiceError as exc:
        return _page(session, principal, errors={f"user{user_id}": exc.message}, status_code=exc.status_code)


@router.post("/users/{user_id}/active")
def set_active_from_page(user_id: int, request: Request, principal: Admin, session: SessionDep, active: Text = ""):
    def act(user):
        accounts.set_active(session=session, principal=principal, user=user, active=active == "1")
        events.record(
            session=session,
            actor=principal,
            action="auth.user_enabled" if active == "1" else "auth.user_disabled",
            request=request,
            detail=f"user {user.id}",
        )
        return RedirectResponse("/admin/users?done=active", status_code=303)

    return _user_action(session, principal, user_id, act)


@router.post("/users/{user_id}/password")
def reset_password_from_page(
    user_id: int, request: Request, principal: Admin, session: SessionDep, password: Text = ""
):
    def act(user):
        new = accounts.reset_password(session=session, user=user, password=password or None, principal=principal)
        events.record(
            session=session, actor=principal, action="auth.password_reset", request=request, detail=f"user {user.id}"
        )
        shown = new if not password else "（入力したパスワード）"
        return _page(
            session,
            principal,
            secret=(f"{user.username} の新しいパスワード", shown),
            notice="パスワードを再設定しました。ログイン中の画面とAPIトークンは使えなくなり、ロックも解除されました。",
        )

    return _user_action(session, principal, user_id, act)


@router.post("/users/{user_id}/tokens")
def issue_token_from_page(
    user_id: int,
    request: Request,
    principal: Admin,
    session: SessionDep,
    name: Text = "",
    expires_days: Text = "",
    otp: Text = "",
):
    def act(user):
        issued = service.create_integration_token(
            session=session,
            settings=request.app.state.settings,
            caller=session.get(User, principal.user_id),
            owner=user,
            name=name,
            days=parse_days(expires_days),
            code=otp or None,
        )
        events.record(
            session=session,
            actor=principal,
            action="auth.token_created",
            request=request,
            detail=f"token {issued.row.id} for user {user.id}",
        )
        return _page(
            session,
            principal,
            secret=(
                f"{user.username} のAPIトークン「{issued.row.name}」（この画面でしか表示されません）",
                issued.token,
            ),
        )

    return _user_action(session, principal, user_id, act)


@router.post("/users/{user_id}/two-factor/disable")
def disable_two_factor_from_page(user_id: int, request: Request, principal: Admin, session: SessionDep):
    """For a lost phone with no recovery code left: the account enrols again at its next login."""

    def act(user):
        totp.disable(session=session, user=user)
        events.record(
            session=session,
            actor=principal,
            action="auth.two_factor_disabled",
            request=request,
            detail=f"user {user.id} by an admin",
        )
        return RedirectResponse("/admin/users?done=two_factor_off", status_code=303)

    return _user_action(session, principal, user_id, act)


@router.post("/tokens/{token_id}/revoke")
def revoke_token_from_page(token_id: int, request: Request, principal: Admin, session: SessionDep):
    try:
        row = service.revoke_token(session=session, principal=principal, token_id=token_id)
    except ServiceError as exc:
        return _page(session, principal, notice=exc.message, status_code=exc.status_code)
    events.record(
        session=session,
        actor=principal,
        action="auth.token_revoked",
        request=request,
        detail=f"token {row.id} of user {row.user_id}",
    )
    return RedirectResponse("/admin/users?done=revoked", status_code=303)
