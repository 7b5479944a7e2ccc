"""One security-header policy for every response, chosen by path prefix: the admin console,
the pages reached from email (link pages, dashboard, home) and the machine endpoints (API,
health, metrics), which keep their own headers. Set here once instead of per response, so
redirects, error answers and framework 404s get them too."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages reached from email: what they show must not leak (Referer) or be cached (§4).
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

# Admin: inline styles are allowed (the pages carry their CSS in a <style> block, and the email
# HTML previewed in the sandboxed iframe, which inherits this policy, uses style attributes). No
# scripts at all; remote images in previewed emails are not loaded (no tracking pixels).
ADMIN_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# First matching prefix wins; "/" matches every path. The API docs load their own scripts and
# styles, so the machine endpoints get no page policy.
POLICIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("/admin", ADMIN_HEADERS),
    ("/api", {}),
    ("/healthz", {}),
    ("/metrics", {}),
    ("/", PRIVATE_HEADERS),
)


def policy_for(path: str) -> dict[str, str]:
    for prefix, headers in POLICIES:
        if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
            return headers
    return {}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers_wanted = policy_for(scope.get("path", "")) if scope["type"] == "http" else {}
        if not headers_wanted:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in headers_wanted.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
