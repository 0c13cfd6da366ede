"""Login (OAuth2 password flow), the caller's identity, and long-lived integration tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlmodel import select

from bcp_service.auth import events, service, totp
from bcp_service.auth.deps import ALL_ROLES, Access
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.auth.throttle import client_address
from bcp_service.db import SessionDep
from bcp_service.errors import FieldError, ServiceError
from bcp_service.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
ANYONE = Access(*ALL_ROLES)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    user_id: int
    username: str
    role: Role
    scope_id: int | None


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    username: str | None = Field(
        default=None, description="admin only: issue for another account (e.g. a system account)"
    )
    expires_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description=(
            "days until it expires: BCP_API_TOKEN_DEFAULT_DAYS (90) when not given, at most BCP_API_TOKEN_MAX_DAYS"
        ),
    )
    otp: str | None = Field(
        default=None,
        max_length=20,
        description="the caller's current TOTP code (or a recovery "
        "code), required when the caller has two-factor sign-in",
    )


class ApiTokenPublic(BaseModel):
    id: int
    user_id: int
    name: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenIssued(ApiTokenPublic):
    token: str = Field(description="shown once; only its hash is stored")


class SecondFactorNeeded(ServiceError):
    status_code = 401
    error_type = "otp_required"


class EnrolmentNeeded(ServiceError):
    status_code = 403
    error_type = "two_factor_enrolment_required"


@router.post("/token", response_model=TokenResponse, dependencies=[Depends(Access(public="login"))])
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    otp: Annotated[
        str | None,
        Form(max_length=20, description="TOTP code (or a recovery code) of an account with two-factor sign-in"),
    ] = None,
):
    settings = request.app.state.settings
    try:
        user = service.authenticate(
            session=session,
            settings=settings,
            username=form.username,
            password=form.password,
            address=client_address(request) or "unknown",
        )
        second_factor(session, request, user, otp)
    except ServiceError:
        # The failed attempt must survive the error response, or throttling would never engage.
        session.commit()
        raise
    issued = service.issue_token(session=session, user=user, kind="access", minutes=settings.access_token_minutes)
    return TokenResponse(access_token=issued.token, expires_in=settings.access_token_minutes * 60)


def second_factor(session, request: Request, user: User, code: str | None) -> None:
    """The token route's second step: a code from an enrolled account; a privileged account that must enrol
    is refused here (enrolment shows a QR code, so it is done on the pages)."""
    settings = request.app.state.settings
    step = totp.step_needed(user, settings)
    if step == "enrol":
        raise EnrolmentNeeded(
            "二段階認証の登録が必要です。画面（/login）からログインして登録してから、もう一度お試しください "
            "(two-factor enrolment required)"
        )
    if step == "verify":
        if not code:
            raise SecondFactorNeeded("二段階認証の確認コード（otp）が必要です (otp required)", field="otp")
        try:
            used = totp.verify(session=session, user=user, code=code, settings=settings)
        except ServiceError as exc:
            service.count_failure(session=session, settings=settings, username=user.username)
            raise service.BadCredentials(exc.message, field="otp") from exc
        events.record(session=session, actor=user, action=events.USED[used], request=request, detail="token route")


@router.get("/me", response_model=Me)
def me(principal: Annotated[Principal, Depends(ANYONE)]):
    return Me(user_id=principal.user_id, username=principal.username, role=principal.role, scope_id=principal.scope_id)


@router.get("/api-tokens", response_model=list[ApiTokenPublic])
def list_api_tokens(principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep):
    return [ApiTokenPublic(**t.model_dump()) for t in service.list_tokens(session=session, principal=principal)]


@router.post("/api-tokens", response_model=ApiTokenIssued, status_code=status.HTTP_201_CREATED)
def create_api_token(
    data: ApiTokenCreate, request: Request, principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep
):
    caller = owner = session.get(User, principal.user_id)
    if data.username and data.username != principal.username:
        if principal.role != Role.admin:
            raise FieldError("他のアカウントのトークンは管理者のみ発行できます (admin only)", field="username")
        owner = session.exec(select(User).where(User.username == data.username)).first()
        if owner is None:
            raise FieldError("そのユーザーは存在しません (no such user)", field="username")
    issued = service.create_integration_token(
        session=session,
        settings=request.app.state.settings,
        caller=caller,
        owner=owner,
        name=data.name,
        days=data.expires_days,
        code=data.otp,
    )
    events.record(
        session=session,
        actor=principal,
        action="auth.token_created",
        request=request,
        detail=f"token {issued.row.id} for user {owner.id}",
    )
    return ApiTokenIssued(**issued.row.model_dump(), token=issued.token)


@router.delete("/api-tokens/{token_id}", response_model=ApiTokenPublic)
def revoke_api_token(
    token_id: int, request: Request, principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep
):
    row = service.revoke_token(session=session, principal=principal, token_id=token_id)
    events.record(
        session=session,
        actor=principal,
        action="auth.token_revoked",
        request=request,
        detail=f"token {row.id} of user {row.user_id}",
    )
    return ApiTokenPublic(**row.model_dump())
