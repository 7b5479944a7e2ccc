"""Middleware of the admin pages: the session cookie, only for paths under ``/admin`` (the rest
of the app — API, link pages — is left alone). Security headers: :mod:`mailflow.web.security`."""

from __future__ import annotations

import itsdangerous
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/admin"
SESSION_COOKIE = "mailflow_admin"
SESSION_MAX_AGE = 12 * 60 * 60


def is_admin_path(scope: Scope) -> bool:
    path = scope.get("path", "")
    return scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/"))


class AdminSessionMiddleware(SessionMiddleware):
    """Starlette's signed-cookie session, for ``/admin`` only, signed with every configured key
    (newest signs, older ones still verify, so a key rotation does not sign everybody out)."""

    def __init__(self, app: ASGIApp, *, signing_keys: list[str], https_only: bool) -> None:
        super().__init__(
            app,
            secret_key=signing_keys[0],
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            path=PREFIX,
            same_site="lax",
            https_only=https_only,
        )
        # itsdangerous wants the keys oldest first and signs with the last one; the salt keeps
        # these signatures apart from every other use of the same keys (signed links).
        self.signer = itsdangerous.TimestampSigner(
            list(reversed(signing_keys)), salt="mailflow.admin-session"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_admin_path(scope):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
