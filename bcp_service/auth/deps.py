"""Route access rules. Every route declares one ``Access``; a test walks the route table to check."""

from __future__ import annotations

import hmac
import logging
from functools import partial
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlmodel import Session

from bcp_service.auth import service
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import IDENTIFIED_ROLES, Role
from bcp_service.db import SessionDep
from bcp_service.db_outage import is_outage

log = logging.getLogger("bcp_service.auth")

SESSION_COOKIE = "bcp_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Declared so the OpenAPI document shows the login flow; the token itself is read in resolve_principal.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class Access:
    """A dependency that authenticates the caller and checks the role.

    ``Access(Role.admin, Role.hub)`` admits those roles; ``Access(public="why")`` marks a route open
    to anyone (the reason is kept for the access matrix). Scope is applied by the services with
    ``patient_scope``; this only decides who may call at all.
    """

    def __new__(cls, *roles: Role, public: str | None = None) -> Access:
        return super().__new__(PublicAccess if public and cls is Access else cls)

    def __init__(self, *roles: Role, public: str | None = None) -> None:
        if not roles and not public:
            raise ValueError("Access needs roles or a public reason")
        self.roles = frozenset(roles)
        self.public = public

    def __repr__(self) -> str:
        return f"Access(public={self.public!r})" if self.public else f"Access({sorted(self.roles)})"

    async def __call__(
        self,
        request: Request,
        session: SessionDep,
        _token: Annotated[str | None, Depends(oauth2_scheme)] = None,
    ) -> Principal | None:
        principal = await run_in_threadpool(resolve_principal, request, session)
        if principal is None:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="ログインが必要です (authentication required)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in self.roles:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN, detail="この操作の権限がありません (role not allowed)"
            )
        if principal.via == "session" and request.method not in SAFE_METHODS:
            await check_csrf(request, principal)
        request.state.principal = principal
        return principal


class PublicAccess(Access):
    """An open route: nothing to look up, so no database session is opened for the rule itself.

    The answer page and Twilio's webhooks are the routes a disaster floods; a session (and the
    thread hops to open and close it) per request was a measurable share of their cost.
    """

    async def __call__(self) -> None:  # type: ignore[override]  # FastAPI reads the signature: it asks for nothing
        return None


def resolve_principal(request: Request, session: Session, *, touch: bool = True) -> Principal | None:
    settings = request.app.state.settings
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    touch_with = partial(_touch, request.app)
    if scheme.lower() == "bearer" and token:
        return service.principal_for_token(
            session=session, token=token.strip(), settings=settings, touch=touch, touch_with=touch_with
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return service.principal_for_session(
            session=session, token=cookie, settings=settings, touch=touch, touch_with=touch_with
        )
    return None


def _touch(app, statement: Executable) -> None:
    """A credential's "last used" written in its own short unit of work, committed before the route runs.

    In the request's session the touch (a token's first use, a page session's once a minute) made the
    whole request a writer: on SQLite it held the write lock to the end, so every other writer waited
    for the page, and ``/ops`` and the system status, which probe writes in a unit of their own, waited
    30 s for their own request and reported the database unwritable (issue 29.3). Best effort, as the
    touch always was: a database too busy to take it within ``shed_wait_seconds`` skips it (the next
    request touches again)."""
    try:
        with app.state.short_unit_of_work() as session:
            session.execute(statement)
    except DBAPIError as exc:
        if not is_outage(exc):
            raise
        log.info("auth.touch_skipped", extra={"error": type(exc).__name__})


def still_signed_in(request: Request, principal: Principal) -> bool:
    """Whether the credential a long response (a board stream) was opened with still holds: revoked,
    expired, reset, disabled and idle credentials end it (issue 23.2). Reads in its own short unit of work."""
    with request.app.state.read_unit_of_work() as session:
        current = resolve_principal(request, session, touch=False)
    return (
        current is not None
        and current.user_id == principal.user_id
        and current.role == principal.role
        and current.scope_id == principal.scope_id
    )


async def check_csrf(request: Request, principal: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not sent or not principal.csrf_token or not hmac.compare_digest(str(sent), principal.csrf_token):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="フォームの有効期限が切れました。再読み込みしてください (CSRF check failed)",
        )


ALL_ROLES = tuple(Role)
IDENTIFIED = tuple(sorted(IDENTIFIED_ROLES))
