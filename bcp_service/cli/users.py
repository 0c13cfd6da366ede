"""``bcp-service users``: accounts and integration tokens."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from sqlmodel import select

from bcp_service.audit.service import record as audit
from bcp_service.auth import service
from bcp_service.auth.roles import Role
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.errors import ServiceError
from bcp_service.models import User

app = typer.Typer(help="アカウント管理 (accounts)", no_args_is_help=True)
console = Console(stderr=True)


def _factory():
    return make_session_factory(make_engine(get_settings().database_url))


def _read_password() -> str:
    if sys.stdin.isatty():
        first = typer.prompt("パスワード", hide_input=True)
        if typer.prompt("パスワード（確認）", hide_input=True) != first:
            raise typer.BadParameter("パスワードが一致しません (passwords differ)")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@app.command("create")
def create(
    username: str = typer.Argument(..., help="login name"),
    role: Role = typer.Option(..., "--role", help="admin, prefecture, hub, institution, nurse, aggregate, system"),
    scope: int | None = typer.Option(
        None, "--scope", help="prefecture id (prefecture) or institution id (hub, institution, nurse)"
    ),
    display_name: str | None = typer.Option(None, "--name", help="display name"),
) -> None:
    """Create an account; the password is read from standard input."""
    password = _read_password()
    with _factory()() as session:
        try:
            user = service.create_user(
                session=session,
                username=username,
                password=password,
                role=role,
                scope_id=scope,
                display_name=display_name,
            )
        except ServiceError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from exc
        session.commit()
        console.print(f"[green]created[/green] user id {user.id} ({role})")


@app.command("token")
def token(
    username: str = typer.Argument(..., help="account the token acts as (e.g. a system account)"),
    name: str = typer.Option(..., "--name", help="what the token is for"),
    expires_days: int | None = typer.Option(
        None, help="days until it expires (default BCP_API_TOKEN_DEFAULT_DAYS, at most BCP_API_TOKEN_MAX_DAYS)"
    ),
) -> None:
    """Issue a long-lived integration token; it is printed once and stored only as a hash."""
    with _factory()() as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            console.print("[red]no such user[/red]")
            raise typer.Exit(1)
        days = service.token_days(expires_days, get_settings())
        issued = service.issue_token(session=session, user=user, kind="integration", name=name, minutes=days * 24 * 60)
        audit(
            session=session,
            principal=None,
            action="auth.token_created",
            resource="command line",
            detail=f"token {issued.row.id} for user {user.id}",
        )
        session.commit()
        console.print(f"token id {issued.row.id}; revoke with: bcp-service users revoke {issued.row.id}")
        print(issued.token)


@app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="token id")) -> None:
    """Revoke an integration token."""
    from bcp_service.models import ApiToken
    from bcp_service.models.base import utcnow

    with _factory()() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            console.print("[red]no such token[/red]")
            raise typer.Exit(1)
        row.revoked_at = row.revoked_at or utcnow()
        session.add(row)
        audit(
            session=session,
            principal=None,
            action="auth.token_revoked",
            resource="command line",
            detail=f"token {row.id} of user {row.user_id}",
        )
        session.commit()
        console.print(f"revoked token {token_id}")
