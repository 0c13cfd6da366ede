"""Login, logout and the home page. Pages use an HTTP-only cookie session with CSRF tokens on forms."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from bcp_service.auth import events, service, throttle, totp
from bcp_service.auth.deps import ALL_ROLES, SESSION_COOKIE, Access
from bcp_service.auth.login import LOGIN_CSRF_COOKIE, PENDING_COOKIE, sign_in
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.auth.throttle import client_address
from bcp_service.db import SessionDep
from bcp_service.errors import ServiceError
from bcp_service.models import User
from bcp_service.page_helpers import HOME_LINKS, page, register_home_link
from bcp_service.routing import iter_api_routes

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Form(max_length=40)]
CsrfField = Annotated[str, Form(max_length=100)]
NextField = Annotated[str, Form(max_length=500)]
EXPIRED_STEP = "ログインの途中で時間が経ちました。もう一度ユーザー名とパスワードを入力してください。"

register_home_link("/docs", "API 文書 (OpenAPI)", "外部システム連携用", tuple(Role))
# Pages of the rounds domain (their own modules register them too; a link shows once its route exists).
_ROUND_READERS = (Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse)
register_home_link(
    "/rounds", "安否確認", "対象を選んで開始（訓練・実災害）、進み具合と再送・電話の経過、終了", _ROUND_READERS
)
register_home_link(
    "/review", "読めなかった返信", "返信の文面と候補の患者から、2タップで確定", (Role.admin, Role.prefecture, Role.hub)
)
register_home_link(
    "/schedules", "定期送信", "予定の作成・一時停止、次回と取りこぼし", (Role.admin, Role.prefecture, Role.hub)
)
register_home_link(
    "/triggers",
    "災害情報による自動開始",
    "気象庁情報で開始した・しなかった理由、開始待ちの取消",
    (Role.admin, Role.prefecture),
)
# Home page order: the daily jobs first, administration last.
HOME_ORDER = (
    "/board",
    "/nurse",
    "/rounds",
    "/review",
    "/registry/patients",
    "/registry/institutions",
    "/registry/regions",
    "/imports",
    "/exports",
    "/bcp/drafts",
    "/bcp/coverage",
    "/schedules",
    "/triggers",
    "/admin/users",
    "/audit",
    "/docs",
)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect after login would help phishing."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _form_page(request: Request, template: str, *, status_code: int = 200, **context) -> Response:
    """A page of the login steps, with a fresh CSRF token in a cookie (no session exists yet)."""
    token = secrets.token_urlsafe(24)
    response = page(template, None, status_code=status_code, csrf_token=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        max_age=3600,
    )
    return response


def _login_page(
    request: Request, *, error: str | None = None, username: str = "", next_url: str = "/", status_code: int = 200
) -> Response:
    return _form_page(
        request, "web/login.html", status_code=status_code, error=error, username=username, next_url=next_url
    )


def _csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected, sent)


@router.get("/login", dependencies=[Depends(Access(public="login page"))])
def login_form(request: Request, next: str | None = None):
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", dependencies=[Depends(Access(public="login form"))])
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
):
    settings = request.app.state.settings
    if not _csrf_ok(request, csrf_token):
        return _login_page(
            request,
            error="フォームの有効期限が切れました。もう一度入力してください。",
            username=username,
            status_code=403,
        )
    try:
        user = service.authenticate(
            session=session,
            settings=settings,
            username=username,
            password=password,
            address=client_address(request) or "unknown",
        )
    except ServiceError as exc:
        # The failed attempt must be counted even though this request "fails": commit it explicitly.
        session.commit()
        return _login_page(request, error=exc.message, username=username, status_code=exc.status_code)
    step = totp.step_needed(user, settings)
    if step == "none":
        return sign_in(request, session, user, RedirectResponse(safe_next(next), status_code=303))
    # A second step: a code, or (BCP_REQUIRE_TWO_FACTOR, a privileged account without one) enrolment first.
    response = RedirectResponse(
        f"/login/{'code' if step == 'verify' else 'enrol'}?{urlencode({'next': safe_next(next)})}", status_code=303
    )
    response.set_cookie(
        PENDING_COOKIE,
        totp.sign_pending(user, step, settings),
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        max_age=totp.PENDING_SECONDS,
        path="/login",
    )
    return response


def _pending(request: Request, session, purpose: str, next_url: str | None) -> User | Response:
    """The account half-way through signing in, or the login form again when the step has expired."""
    value = request.cookies.get(PENDING_COOKIE)
    user = totp.read_pending(value, purpose, session=session, settings=request.app.state.settings) if value else None
    return user or _login_page(request, error=EXPIRED_STEP, next_url=safe_next(next_url), status_code=401)


@router.get("/login/code", dependencies=[Depends(Access(public="login: the second factor"))])
def login_code_form(request: Request, session: SessionDep, next: str | None = None):
    if isinstance(user := _pending(request, session, "verify", next), Response):
        return user
    return _form_page(request, "web/login_code.html", error=None, next_url=safe_next(next))


@router.post("/login/code", dependencies=[Depends(Access(public="login: the second factor"))])
def login_code_submit(
    request: Request,
    session: SessionDep,
    code: Code = "",
    csrf_token: CsrfField = "",
    next: NextField = "/",
):
    settings = request.app.state.settings
    if isinstance(user := _pending(request, session, "verify", next), Response):
        return user
    if not _csrf_ok(request, csrf_token):
        return _form_page(
            request,
            "web/login_code.html",
            error="フォームの有効期限が切れました。もう一度入力してください。",
            next_url=safe_next(next),
            status_code=403,
        )
    until = throttle.locked_until(session, [f"user:{user.username.lower()}"])
    try:
        if until is not None:
            raise service.LoginLocked(until)
        used = totp.verify(session=session, user=user, code=code, settings=settings)
    except ServiceError as exc:
        if until is None:
            service.count_failure(session=session, settings=settings, username=user.username)
        session.commit()  # the failure is counted although this request "fails"
        return _form_page(
            request,
            "web/login_code.html",
            error=exc.message,
            next_url=safe_next(next),
            status_code=exc.status_code if until is not None else 401,
        )
    events.record(session=session, actor=user, action=events.USED[used], request=request, detail="page login")
    return sign_in(request, session, user, RedirectResponse(safe_next(next), status_code=303))


@router.get("/login/enrol", dependencies=[Depends(Access(public="login: enrolment the setting requires"))])
def login_enrol_form(request: Request, session: SessionDep, next: str | None = None):
    if isinstance(user := _pending(request, session, "enrol", next), Response):
        return user
    secret = totp.start_enrolment(session=session, user=user, settings=request.app.state.settings)
    return _form_page(
        request, "web/login_enrol.html", error=None, next_url=safe_next(next), **totp.enrolment_context(user, secret)
    )


@router.post("/login/enrol", dependencies=[Depends(Access(public="login: enrolment the setting requires"))])
def login_enrol_submit(
    request: Request,
    session: SessionDep,
    code: Code = "",
    csrf_token: CsrfField = "",
    next: NextField = "/",
):
    settings = request.app.state.settings
    if isinstance(user := _pending(request, session, "enrol", next), Response):
        return user
    try:
        if not _csrf_ok(request, csrf_token):
            raise ServiceError("フォームの有効期限が切れました。もう一度入力してください。", field="code")
        codes = totp.confirm_enrolment(session=session, user=user, code=code, settings=settings)
    except ServiceError as exc:
        secret = totp.start_enrolment(session=session, user=user, settings=settings)
        return _form_page(
            request,
            "web/login_enrol.html",
            error=exc.message,
            next_url=safe_next(next),
            status_code=422,
            **totp.enrolment_context(user, secret),
        )
    events.record(session=session, actor=user, action="auth.two_factor_enrolled", request=request, detail="at login")
    return sign_in(request, session, user, page("web/recovery_codes.html", None, codes=codes, next_url=safe_next(next)))


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
