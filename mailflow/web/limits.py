"""Request bodies are bounded while they stream, before any handler parses or stores them.

A declared ``Content-Length`` over the limit is refused at once; a body without one (chunked)
is counted as it arrives and refused as soon as it passes the limit. The limit depends on the
route: small for the webhook, the document size for document uploads, the import size for
imports, a general default for every other form. A body that stalls is refused with 408.
The answer closes the connection, so the rest of a large body is not read.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response

from mailflow.config import Settings
from mailflow.leads.imports import MAX_IMPORT_BYTES
from mailflow.web.deps import request_language
from mailflow.web.errors import problem

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the other fields of an upload form
_DOCUMENT_UPLOAD = re.compile(r"^/admin/leads/\d+/documents/?$")
_IMPORT_UPLOAD = re.compile(r"^/admin/(leads|installers)/import/?$")


class BodyRefused(HTTPException):
    """Raised from ``receive`` while a handler reads the body (413 too large, 408 too slow);
    an HTTPException so that FastAPI's body parsing passes it on unchanged."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers={"Connection": "close"})


def body_limit(settings: Settings, path: str) -> int:
    """The largest body accepted for a request to ``path``, in bytes."""
    if path.rstrip("/") == "/api/leads":
        return settings.webhook_max_bytes
    if _DOCUMENT_UPLOAD.match(path):
        return settings.document_max_bytes + MULTIPART_OVERHEAD
    if _IMPORT_UPLOAD.match(path):
        return MAX_IMPORT_BYTES + MULTIPART_OVERHEAD
    return settings.form_max_bytes


def too_large(limit: int) -> BodyRefused:
    if limit >= 1024 * 1024:
        size = f"{limit / (1024 * 1024):.0f} MB"
    else:
        size = f"{limit // 1024} KB"
    return BodyRefused(413, f"request body too large: at most {size}")


def too_slow(timeout: float) -> BodyRefused:
    return BodyRefused(408, f"request body not received in time (nothing for {timeout:g} s)")


def refusal_response(request: Request, exc: BodyRefused) -> Response:
    """JSON for the API and other programs, a short translated page for people."""
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    response = problem(
        "too_large" if exc.status_code == 413 else "too_slow", request_language(request)
    )
    response.headers.update(headers)
    return response


class BodyLimitMiddleware:
    """Pure ASGI: wraps ``receive`` to count the body and time each piece of it."""

    def __init__(self, app, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings()
        limit = body_limit(settings, scope["path"])
        timeout = settings.http_body_timeout_seconds
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = refusal_response(Request(scope), too_large(limit))
            await response(scope, receive, send)
            return
        received = 0
        complete = False

        async def limited_receive():
            nonlocal received, complete
            if complete:  # after the body: only the disconnect, which may take any time
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise too_slow(timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
