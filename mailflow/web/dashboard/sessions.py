"""Installer sessions: rows of ``installer_sessions``; the cookie holds only the row's
random id, signed with itsdangerous under every configured key."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import (
    Installer,
    InstallerSession,
)
from mailflow.web.dashboard.common import _secure, redirect, safe_next
from mailflow.web.dashboard.labels import (
    ACTIVITY_EVERY,
    PREFIX,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SESSION_SALT,
)

log = logging.getLogger(__name__)


def _signer(settings: Settings) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with all of them.
    return URLSafeSerializer(list(reversed(settings.signing_keys)), salt=SESSION_SALT)


@dataclass
class SignedIn:
    row: InstallerSession
    installer: Installer


def _session_id(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        value = _signer(settings).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def signed_in(
    session: Session, request: Request, settings: Settings, at: datetime
) -> SignedIn | None:
    sid = _session_id(request, settings)
    row = session.get(InstallerSession, sid) if sid else None
    if row is None or row.expires_at <= at:
        return None
    installer = session.get(Installer, row.installer_id)
    return SignedIn(row, installer) if installer is not None else None


def start_session(
    session: Session, installer: Installer, request: Request, *, at: datetime, settings: Settings
) -> str:
    """A new session for ``installer`` (in the caller's transaction); returns the cookie value.
    The browser's previous session, if any, ends: a session id is never reused."""
    old = _session_id(request, settings)
    if old:
        session.execute(delete(InstallerSession).where(InstallerSession.id == old))
    session.execute(
        delete(InstallerSession).where(
            InstallerSession.installer_id == installer.id, InstallerSession.expires_at <= at
        )
    )
    row = InstallerSession(
        id=secrets.token_urlsafe(32),
        installer_id=installer.id,
        created_at=at,
        expires_at=at + SESSION_LIFETIME,
        csrf_token=secrets.token_urlsafe(32),
    )
    session.add(row)
    installer.last_action_at = at
    return _signer(settings).dumps(row.id)


def set_session_cookie(response: Response, value: str, settings: Settings) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
    )
    return response


def _clear_session_cookie(response: Response, settings: Settings) -> Response:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(settings)
    )
    return response


def _touch(installer: Installer, at: datetime) -> None:
    if installer.last_action_at is None or at - installer.last_action_at >= ACTIVITY_EVERY:
        installer.last_action_at = at


def _to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if safe_next(target) == f"{PREFIX}/":
        return redirect(f"{PREFIX}/signin")
    return redirect(f"{PREFIX}/signin?next={quote(target, safe='')}")
