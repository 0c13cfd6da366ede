"""Login, logout and the home page. Pages use an HTTP-only cookie session with CSRF tokens on forms."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from bcp_service.auth import service
from bcp_service.auth.deps import ALL_ROLES, SESSION_COOKIE, Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.auth.throttle import client_address
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.page_helpers import HOME_LINKS, page, register_home_link
from bcp_service.routing import iter_api_routes

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "bcp_login_csrf"

register_home_link("/docs", "API 文書 (OpenAPI)", "外部システム連携用", tuple(Role))
# Pages of the rounds domain (their own modules register them too; a link shows once its route exists).
_ROUND_READERS = (Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse)
register_home_link("/rounds", "安否確認", "対象を選んで開始（訓練・実災害）、進み具合と再送・電話の経過、終了", _ROUND_READERS)
register_home_link("/review", "読めなかった返信", "返信の文面と候補の患者から、2タップで確定", (Role.admin, Role.prefecture, Role.hub))
register_home_link("/schedules", "定期送信", "予定の作成・一時停止、次回と取りこぼし", (Role.admin, Role.prefecture, Role.hub))
register_home_link("/triggers", "災害情報による自動開始", "気象庁情報で開始した・しなかった理由、開始待ちの取消", (Role.admin, Role.prefecture))
# Home page order: the daily jobs first, administration last.
HOME_ORDER = ("/board", "/nurse", "/rounds", "/review", "/registry/patients", "/registry/institutions", "/registry/regions",
              "/imports", "/exports", "/bcp/drafts", "/bcp/coverage", "/schedules", "/triggers", "/admin/users", "/audit", "/docs")


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect after login would help phishing."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(request: Request, *, error: str | None = None, username: str = "", next_url: str = "/", status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = page("web/login.html", None, status_code=status_code, error=error, username=username, next_url=next_url, csrf_token=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies, max_age=3600)
    return response


@router.get("/login", dependencies=[Depends(Access(public="login page"))])
def login_form(request: Request, next: str | None = None):
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", dependencies=[Depends(Access(public="login form"))])
def login_submit(
    request: Request, session: SessionDep,
    username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)], next: Annotated[str, Form(max_length=500)] = "/",
):
    settings = request.app.state.settings
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(request, error="フォームの有効期限が切れました。もう一度入力してください。", username=username, status_code=403)
    try:
        user = service.authenticate(session=session, settings=settings, username=username, password=password,
                                    address=client_address(request) or "unknown")
    except ServiceError as exc:
        # The failed attempt must be counted even though this request "fails": commit it explicitly.
        session.commit()
        return _login_page(request, error=exc.message, username=username, status_code=exc.status_code)
    token, _row = service.start_web_session(session=session, user=user, settings=settings)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=settings.session_minutes * 60)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, principal: Annotated[Principal, Depends(Access(*ALL_ROLES))]):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.end_web_session(session=session, token=token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, principal: Annotated[Principal, Depends(Access(*ALL_ROLES))]):
    served = {route.path for route in iter_api_routes(request.app)} | {"/docs"}
    links = [link for link in HOME_LINKS if principal.role in link.roles and link.href in served]
    links.sort(key=lambda link: HOME_ORDER.index(link.href) if link.href in HOME_ORDER else len(HOME_ORDER))
    return page("web/home.html", principal, links=links)
