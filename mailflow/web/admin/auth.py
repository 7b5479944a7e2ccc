"""Sign-in state of the admin pages: the session, CSRF tokens, roles.

A session is a row of ``admin_sessions`` (server side, like the installer dashboard's); the
signed cookie (``security.AdminSessionMiddleware``) carries only that row's random id, the
CSRF token and one-time flash messages. Signing out deletes the row, so a copied cookie stops
working; so does a session unused for ``MAILFLOW_ADMIN_SESSION_IDLE_MINUTES`` and any session
12 hours after sign-in. Every request reloads the admin, so a deactivated user or a changed
password ends the session at once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.models import AdminSession, AdminUser
from mailflow.outbound.names import N_
from mailflow.web import csrf
from mailflow.web.admin.users import password_fingerprint

SESSION_LIFETIME = timedelta(hours=12)
# Last use is written at most this often (a page view is otherwise read-only).
TOUCH_EVERY = timedelta(minutes=1)
CSRF_FIELD = csrf.FIELD


# ------------------------------------------------------------------ refusals ----------------
class LoginRequired(Exception):
    """A page was asked for without a valid session: the handler redirects to the login form."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Refused(Exception):
    """An action is refused (no session on a POST, bad CSRF token, read-only role)."""

    def __init__(self, status_code: int, message: str, admin: AdminIdentity | None = None) -> None:
        self.status_code = status_code
        self.message = message
        self.admin = admin  # for the page's navigation when the refused user is signed in


# ------------------------------------------------------------------ identity ----------------
@dataclass(frozen=True)
class AdminIdentity:
    id: int
    email: str
    role: str
    language: str = "en"  # the console's language they chose (en, fr, de)

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


def start_session(session: Session, request: Request, user: AdminUser, at: datetime) -> None:
    """After a successful sign-in, in its transaction: a new session row and a fresh cookie
    session (new id, new CSRF token, nothing carried over). The browser's previous session
    row, if any, is deleted: an id is never reused."""
    old = request.session.get("sid")
    if isinstance(old, str):
        session.execute(delete(AdminSession).where(AdminSession.id == old))
    session.execute(
        delete(AdminSession).where(
            AdminSession.admin_user_id == user.id, AdminSession.expires_at <= at
        )
    )
    row = AdminSession(
        id=secrets.token_urlsafe(32),
        admin_user_id=user.id,
        created_at=at,
        last_seen_at=at,
        expires_at=at + SESSION_LIFETIME,
        password_fingerprint=password_fingerprint(user),
    )
    session.add(row)
    request.session.clear()
    request.session.update({"sid": row.id, "csrf": secrets.token_urlsafe(32)})


def end_session(request: Request) -> None:
    """Sign out: the row goes, so the cookie (or a copy of it) no longer signs anybody in."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        with session_scope() as session:
            session.execute(delete(AdminSession).where(AdminSession.id == sid))
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def load_admin(request: Request) -> AdminIdentity | None:
    """The signed-in admin, or None. Ends a session that is no longer valid."""
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        return None
    at = now()
    idle = timedelta(minutes=get_settings().admin_session_idle_minutes)
    with session_scope() as session:
        row = session.get(AdminSession, sid)
        user = session.get(AdminUser, row.admin_user_id) if row is not None else None
        valid = (
            row is not None
            and user is not None
            and user.active
            and row.expires_at > at
            and row.last_seen_at + idle > at
            and hmac.compare_digest(row.password_fingerprint, password_fingerprint(user))
        )
        if valid:
            if at - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = at
            identity = AdminIdentity(user.id, user.email, user.role, user.language or "en")
        else:
            identity = None
            if row is not None:
                session.delete(row)
    if identity is None:
        request.session.clear()
    return identity


def optional_admin(request: Request) -> AdminIdentity | None:
    return load_admin(request)


def require_admin(
    request: Request, admin: AdminIdentity | None = Depends(optional_admin)
) -> AdminIdentity:
    """For pages: without a session, go to the login form (and come back afterwards)."""
    if admin is None:
        raise LoginRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return admin


# A signed-in admin; without a session, a redirect to the login form (then back).
CurrentAdmin = Annotated[AdminIdentity, Depends(require_admin)]

CSRF_REFUSED = N_(
    "The form has expired or did not come from this site. Reload the page and try again."
)


def check_csrf(request: Request, form: FormData) -> None:
    """The admin session's token (:mod:`mailflow.web.csrf`), refused with the admin page."""
    if not csrf.verify(request, form, csrf.session_token_of(request)):
        raise Refused(403, CSRF_REFUSED)


@dataclass(frozen=True)
class Action:
    admin: AdminIdentity
    form: FormData


async def require_read_form(request: Request) -> Action:
    """For POSTs that change nothing but carry a form too long or too private for a URL (an
    export of ticked rows): a session and a valid CSRF token; viewers too."""
    admin = await run_in_threadpool(load_admin, request)
    if admin is None:
        raise Refused(403, N_("You are not signed in (or your session has expired)."))
    form = await request.form()
    try:
        check_csrf(request, form)
    except Refused as exc:
        exc.admin = admin
        raise
    return Action(admin, form)


async def require_action(request: Request) -> Action:
    """For state-changing POSTs: a session, a valid CSRF token, and the admin role."""
    action = await require_read_form(request)
    if not action.admin.can_act:
        raise Refused(
            403, N_("Your account is read-only (viewer): it cannot change anything."), action.admin
        )
    return action


def safe_next(value: str | None, default: str = "/admin/") -> str:
    """Only ever redirect to an admin page of this site (no open redirect)."""
    if not value or not isinstance(value, str) or "\\" in value or any(c < " " for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return default
    if not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return default
    if parts.path.startswith(("/admin/login", "/admin/logout")) or ".." in parts.path:
        return default
    return value


def login_url(next_url: str | None = None) -> str:
    target = safe_next(next_url, default="")
    return "/admin/login" + (f"?next={quote(target, safe='/')}" if target else "")
