"""Login (OAuth2 password flow), the caller's identity, and long-lived integration tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlmodel import select

from bcp_service.auth import service
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
    username: str | None = Field(default=None, description="admin only: issue for another account (e.g. a system account)")
    expires_days: int | None = Field(default=None, ge=1, le=3650)


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


@router.post("/token", response_model=TokenResponse, dependencies=[Depends(Access(public="login"))])
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep):
    settings = request.app.state.settings
    try:
        user = service.authenticate(
            session=session, settings=settings, username=form.username, password=form.password,
            address=client_address(request) or "unknown",
        )
    except ServiceError:
        # The failed attempt must survive the error response, or throttling would never engage.
        session.commit()
        raise
    issued = service.issue_token(session=session, user=user, kind="access", minutes=settings.access_token_minutes)
    return TokenResponse(access_token=issued.token, expires_in=settings.access_token_minutes * 60)


@router.get("/me", response_model=Me)
def me(principal: Annotated[Principal, Depends(ANYONE)]):
    return Me(user_id=principal.user_id, username=principal.username, role=principal.role, scope_id=principal.scope_id)


@router.get("/api-tokens", response_model=list[ApiTokenPublic])
def list_api_tokens(principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep):
    return [ApiTokenPublic(**t.model_dump()) for t in service.list_tokens(session=session, principal=principal)]


@router.post("/api-tokens", response_model=ApiTokenIssued, status_code=status.HTTP_201_CREATED)
def create_api_token(data: ApiTokenCreate, principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep):
    user = session.get(User, principal.user_id)
    if data.username and data.username != principal.username:
        if principal.role != Role.admin:
            raise FieldError("他のアカウントのトークンは管理者のみ発行できます (admin only)", field="username")
        user = session.exec(select(User).where(User.username == data.username)).first()
        if user is None:
            raise FieldError("そのユーザーは存在しません (no such user)", field="username")
    issued = service.issue_token(
        session=session, user=user, kind="integration", name=data.name,
        minutes=data.expires_days * 24 * 60 if data.expires_days else None,
    )
    return ApiTokenIssued(**issued.row.model_dump(), token=issued.token)


@router.delete("/api-tokens/{token_id}", response_model=ApiTokenPublic)
def revoke_api_token(token_id: int, principal: Annotated[Principal, Depends(ANYONE)], session: SessionDep):
    return ApiTokenPublic(**service.revoke_token(session=session, principal=principal, token_id=token_id).model_dump())
