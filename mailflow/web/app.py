"""The ASGI application (FastAPI)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from mailflow import __version__
from mailflow.db import session_scope
from mailflow.web import admin, api, dashboard, links, status_links, survey, vacation


def create_app() -> FastAPI:
    app = FastAPI(
        title="mailflow",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.include_router(api.router)
    admin.install(app)
    app.include_router(status_links.router)  # before the generic /l/{action}/{token}
    app.include_router(survey.router)
    app.include_router(dashboard.router)
    app.include_router(vacation.router)  # before the generic /l/{action}/{token}
    app.include_router(links.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        from mailflow.metrics import render

        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
        errors = {
            ".".join(str(p) for p in e["loc"][1:]) or "request": e["msg"] for e in exc.errors()
        }
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    return app
