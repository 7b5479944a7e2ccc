"""Sign-in state of the admin pages: the session, CSRF tokens, roles, login rate limiting.

The session is Starlette's signed cookie (see ``security.AdminSessionMiddleware``); it carries
the admin's id, a fingerprint of their password hash, the sign-in time and a CSRF token. Every
request reloads the admin from the database, so a deactivated user or a changed password ends
the session at once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import AdminUser
from mailflow.web.admin.users import password_fingerprint

SESSION_LIFETIME = timedelta(hours=12)
CSRF_FIELD = "csrf_token"


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

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


def start_session(request: Request, user: AdminUser, at: datetime) -> None:
    """After a successful sign-in: a fresh session (new CSRF token, nothing carried over)."""
    request.session.clear()
    request.session.update(
        {
            "admin_id": user.id,
            "pw": password_fingerprint(user),
            "at": int(at.timestamp()),
            "csrf": secrets.token_urlsafe(32),
        }
    )


def end_session(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def load_admin(request: Request) -> AdminIdentity | None:
    """The signed-in admin, or None. Clears a session that is no longer valid."""
    admin_id = request.session.get("admin_id")
    if not isinstance(admin_id, int):
        return None
    started = request.session.get("at")
    if (
        not isinstance(started, int)
        or now().timestamp() - started > SESSION_LIFETIME.total_seconds()
    ):
        end_session(request)
        return None
    with session_scope() as session:
        user = session.get(AdminUser, admin_id)
        valid = (
            user is not None
            and user.active
            and hmac.compare_digest(str(request.session.get("pw", "")), password_fingerprint(user))
        )
        identity = AdminIdentity(user.id, user.email, user.role) if valid else None
    if identity is None:
        end_session(request)
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


def check_csrf(request: Request, form: FormData) -> None:
    expected = request.session.get("csrf")
    given = form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise Refused(
            403,
            "The form has expired or did not come from this site. Reload the page and try again.",
        )


async def csrf_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's."""
    form = await request.form()
    check_csrf(request, form)
    return form


@dataclass(frozen=True)
class Action:
    admin: AdminIdentity
    form: FormData


async def require_action(request: Request) -> Action:
    """For state-changing POSTs: a session, a valid CSRF token, and the admin role."""
    admin = await run_in_threadpool(load_admin, request)
    if admin is None:
        raise Refused(403, "You are not signed in (or your session has expired).")
    form = await request.form()
    try:
        check_csrf(request, form)
    except Refused as exc:
        exc.admin = admin
        raise
    if not admin.can_act:
        raise Refused(403, "Your account is read-only (viewer): it cannot change anything.", admin)
    return Action(admin, form)


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


# ------------------------------------------------------------------ rate limiting -----------
class LoginLimiter:
    """Failed sign-ins in a sliding window: at most ``per_account`` per (email, client IP) and
    ``per_ip`` per client IP (against password spraying across accounts).

    Kept in this process's memory, which is acceptable for now: a restart forgets the counts,
    and with several web processes each one counts on its own. A shared store (the Redis the
    broker uses, or a table) is the step up when that matters. Behind a reverse proxy the
    client IP is the proxy's unless uvicorn is told to trust ``X-Forwarded-For``.
    """

    MAX_KEYS = 10_000

    def __init__(
        self, per_account: int = 5, per_ip: int = 20, window: timedelta = timedelta(minutes=15)
    ) -> None:
        self.per_account = per_account
        self.per_ip = per_ip
        self.window = window
        self._failures: dict[tuple, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _keys(self, email: str, ip: str) -> list[tuple[tuple, int]]:
        return [(("account", email, ip), self.per_account), (("ip", ip), self.per_ip)]

    def _recent(self, key: tuple, at: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= at - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, email: str, ip: str, at: datetime) -> int | None:
        """Seconds until the next attempt is allowed, or None when it is allowed now."""
        with self._lock:
            waits = []
            for key, limit in self._keys(email, ip):
                times = self._recent(key, at)
                if len(times) >= limit:
                    waits.append((times[-limit] + self.window - at).total_seconds())
            return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, email: str, ip: str, at: datetime) -> None:
        with self._lock:
            if len(self._failures) >= self.MAX_KEYS:
                for key in list(self._failures):
                    self._recent(key, at)
                while len(self._failures) >= self.MAX_KEYS:  # still full: forget the oldest
                    self._failures.pop(next(iter(self._failures)))
            for key, _limit in self._keys(email, ip):
                self._failures.setdefault(key, deque()).append(at)

    def succeeded(self, email: str, ip: str) -> None:
        with self._lock:
            self._failures.pop(("account", email, ip), None)
