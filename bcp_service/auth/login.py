"""Starting a page session on a response, shared by the login steps (``web/routes.py``) and the password
change (``auth/account_pages.py``), which ends every session of the account and starts a fresh one."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from bcp_service.auth import service
from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.models import User

LOGIN_CSRF_COOKIE = "bcp_login_csrf"
# Between the password and the second factor (auth/totp.py sign_pending): signed, five minutes, /login only.
PENDING_COOKIE = "bcp_login_pending"


def sign_in(request: Request, session: Session, user: User, response: Response) -> Response:
    """Start a page session on ``response`` (a redirect, or the page that shows new recovery codes)."""
    settings = request.app.state.settings
    token, _row = service.start_web_session(session=session, user=user, settings=settings)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_minutes * 60,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    response.delete_cookie(PENDING_COOKIE, path="/login")
    return response
