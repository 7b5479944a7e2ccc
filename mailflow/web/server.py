"""How the web app is served: the one uvicorn configuration of ``mailflow web`` and
``mailflow run``, and whom the app believes about the client's address.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so anything on the same host
(or a proxy that passes the header through unchanged) could choose the address the sign-in
rate limit and the audit log see. Here uvicorn believes no proxy; the app does, through
uvicorn's own middleware, only for the addresses in ``MAILFLOW_TRUSTED_PROXIES``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mailflow.config import Settings


def trust_proxies(app: FastAPI, settings: Settings) -> None:
    """Believe forwarded headers from the configured proxies only (none by default)."""
    if settings.trusted_proxy_list:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)


def uvicorn_config(app: Any, host: str, port: int, **options: Any):
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # full URLs: link tokens must never reach the logs
        proxy_headers=False,  # see trust_proxies
        **options,
    )
