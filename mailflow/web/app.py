"""The ASGI application (FastAPI)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mailflow import __version__, reactions
from mailflow.config import get_settings
from mailflow.db import describe_unavailable, is_database_unavailable, session_scope
from mailflow.metrics import render as render_metrics
from mailflow.web import admin, api, dashboard, links
from mailflow.web.admin.security import is_admin_path
from mailflow.web.csrf import CsrfRefused
from mailflow.web.deps import path_language, request_language
from mailflow.web.errors import problem
from mailflow.web.limits import BodyLimitMiddleware, BodyRefused, refusal_response
from mailflow.web.pages import render_page
from mailflow.web.security import SecurityHeadersMiddleware
from mailflow.web.server import OncePerInterval, trust_proxies

log = logging.getLogger(__name__)

# How long clients (webhook senders, browsers) should wait before trying again during an outage.
RETRY_AFTER_SECONDS = 30


def loggable_path(path: str) -> str:
    """The path without the signed token of a link page (tokens are credentials)."""
    parts = path.split("/")
    return "/".join(parts[:3]) + "/…" if len(parts) > 3 and parts[1] == "l" else path


def database_unavailable_response(request: Request) -> Response:
    """503 with Retry-After: JSON for the API, the clear link page for people."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    accepts = request.headers.get("accept", "")
    if request.url.path.startswith("/api") or "text/html" not in accepts:
        return JSONResponse(
            {"detail": "database unavailable, nothing was changed: retry later"},
            status_code=503,
            headers=headers,
        )
    response = problem("unavailable", request_language(request))
    response.headers.update(headers)
    return response


def create_app() -> FastAPI:
    reactions.install()
    health_failures = OncePerInterval(
        "healthz answered unavailable %d times; last error: %s", logger=log
    )
    # The API docs' scripts and styles are served by mailflow itself (fastapi-offline), so the
    # page works on a machine without internet access and sends no request elsewhere.
    app = FastAPIOffline(
        title="mailflow",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        static_url="/api/docs/static",
        favicon_url="/api/docs/static/favicon.png",
    )
    app.include_router(api.router)
    admin.install(app)
    app.include_router(dashboard.router)
    app.include_router(links.router)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return render_page("home.html", request_language(request))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            # The driver's message names hosts, ports and users: the log has it, not the
            # public answer.
            health_failures.note(describe_unavailable(exc))
            return JSONResponse(
                {"status": "unavailable", "database": "unavailable"},
                503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
            )
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(SQLAlchemyError)
    async def _database_error(request: Request, exc: SQLAlchemyError) -> Response:
        # An outage (PostgreSQL restarting, refusing connections, SQLite locked) is not a bug:
        # the transaction was rolled back, so the client may simply retry. Anything else is.
        if not is_database_unavailable(exc):
            raise exc
        log.warning(
            "%s %s: database unavailable, answered 503 (%s)",
            request.method,
            loggable_path(request.url.path),
            describe_unavailable(exc),
        )
        return database_unavailable_response(request)

    @app.exception_handler(CsrfRefused)
    async def _csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        if is_admin_path(request.scope):
            return admin.csrf_refusal_page(request)
        # A link page's refusal speaks the language of whoever the link was written for.
        language = await run_in_threadpool(path_language, request, get_settings())
        return problem("csrf", language)

    @app.exception_handler(BodyRefused)
    async def _body_refused(request: Request, exc: BodyRefused) -> Response:
        return refusal_response(request, exc)

    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost of the app's own middleware, so every route's body is bounded.
    app.add_middleware(BodyLimitMiddleware, settings=get_settings)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
        errors = {
            ".".join(str(p) for p in e["loc"][1:]) or "request": e["msg"] for e in exc.errors()
        }
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    trust_proxies(app, get_settings())  # outermost: every part sees the same client address
    return app
