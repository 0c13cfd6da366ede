"""Account administration pages (admin only): create accounts, disable or enable them, reset a
password, scopes, and integration (API) tokens. Secrets are shown once, on the answer page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from bcp_service.auth import accounts, service
from bcp_service.auth.deps import Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import ROLE_LABELS, SCOPED_ROLES, Role
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.page_helpers import page, register_home_link

router = APIRouter(prefix="/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(Access(Role.admin))]
Text = Annotated[str, Form(max_length=200)]

register_home_link("/admin/users", "アカウント管理", "アカウントの作成・無効化・パスワード再設定、APIトークン", (Role.admin,))


def _page(session: Session, principal: Principal, *, errors: dict | None = None, values: dict | None = None,
          secret: tuple[str, str] | None = None, notice: str | None = None, status_code: int = 200) -> Response:
    prefectures, institutions = accounts.scope_names(session)
    tokens: dict[int, list] = {}
    for token in service.list_tokens(session=session, principal=principal):
        tokens.setdefault(token.user_id, []).append(token)
    return page(
        "auth/users.html", principal, status_code=status_code, users=accounts.list_users(session=session), tokens=tokens,
        prefectures=prefectures, institutions=institutions, roles=ROLE_LABELS, scoped=SCOPED_ROLES, errors=errors or {},
        values=values or {"role": "nurse"}, secret=secret, notice=notice,
        create_open=any(not key.startswith("user") for key in errors or {}),
    )


@router.get("/users")
def users_page(principal: Admin, session: SessionDep, done: str = ""):
    notices = {"active": "アカウントの有効・無効を変更しました。", "revoked": "トークンを無効にしました。"}
    return _page(session, principal, notice=notices.get(done))


@router.post("/users")
def create_user_from_page(
    principal: Admin, session: SessionDep, username: Text = "", display_name: Text = "", role: Text = "",
    scope_id: Text = "", password: Text = "",
):
    values = {"username": username.strip(), "display_name": display_name.strip(), "role": role, "scope_id": scope_id}
    try:
        if role not in Role.__members__:
            raise ServiceError("役割を選んでください (choose a role)", field="role")
        with session.begin_nested():
            user = service.create_user(
                session=session, username=values["username"], password=password, role=Role(role),
                scope_id=int(scope_id) if scope_id.isdigit() and Role(role) in SCOPED_ROLES else None,
                display_name=values["display_name"] or None,
            )
    except ServiceError as exc:
        return _page(session, principal, errors={exc.field or "username": exc.message}, values=values,
                     status_code=exc.status_code)
    return _page(session, principal, notice=f"アカウント {user.username} を作成しました。", status_code=201)


def _user_action(session: Session, principal: Principal, user_id: int, action) -> Response:
    try:
        user = accounts.get_user(session=session, user_id=user_id)
        with session.begin_nested():
            return action(user)
    except ServiceError as exc:
        return _page(session, principal, errors={f"user{user_id}": exc.message}, status_code=exc.status_code)


@router.post("/users/{user_id}/active")
def set_active_from_page(user_id: int, principal: Admin, session: SessionDep, active: Text = ""):
    def act(user):
        accounts.set_active(session=session, principal=principal, user=user, active=active == "1")
        return RedirectResponse("/admin/users?done=active", status_code=303)

    return _user_action(session, principal, user_id, act)


@router.post("/users/{user_id}/password")
def reset_password_from_page(user_id: int, principal: Admin, session: SessionDep, password: Text = ""):
    def act(user):
        new = accounts.reset_password(session=session, user=user, password=password or None, principal=principal)
        shown = new if not password else "（入力したパスワード）"
        return _page(session, principal, secret=(f"{user.username} の新しいパスワード", shown),
                     notice="パスワードを再設定しました。ログイン中の画面はログアウトされます。")

    return _user_action(session, principal, user_id, act)


@router.post("/users/{user_id}/tokens")
def issue_token_from_page(user_id: int, principal: Admin, session: SessionDep, name: Text = "", expires_days: Text = ""):
    def act(user):
        label = name.strip()
        if not label or len(label) > 100:
            raise ServiceError("トークンの用途を100文字以内で入力してください (a name is required)", field="name")
        days = int(expires_days) if expires_days.isdigit() and 0 < int(expires_days) <= 3650 else None
        issued = service.issue_token(session=session, user=user, kind="integration", name=label,
                                     minutes=days * 24 * 60 if days else None)
        return _page(session, principal, secret=(f"{user.username} のAPIトークン「{label}」（この画面でしか表示されません）", issued.token))

    return _user_action(session, principal, user_id, act)


@router.post("/tokens/{token_id}/revoke")
def revoke_token_from_page(token_id: int, principal: Admin, session: SessionDep):
    try:
        service.revoke_token(session=session, principal=principal, token_id=token_id)
    except ServiceError as exc:
        return _page(session, principal, notice=exc.message, status_code=exc.status_code)
    return RedirectResponse("/admin/users?done=revoked", status_code=303)
