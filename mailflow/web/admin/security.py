"""Middleware of the admin pages: the session cookie and the security headers, both only for
paths under ``/admin`` (the rest of the app — API, link pages — is left alone)."""

from __future__ import annotations

import itsdangerous
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/admin"
SESSION_COOKIE = "mailflow_admin"
SESSION_MAX_AGE = 12 * 60 * 60

# Inline styles are allowed: the pages carry their CSS in a <style> block, and the email HTML
# previewed in the sandboxed iframe (which inherits this policy) uses style attributes. No
# scripts at all; remote images in previewed emails are not loaded (no tracking pixels).
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


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


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_admin_path(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
