"""How uvicorn serves mailflow (``mailflow run`` and ``mailflow web``): timeouts and limits so
that idle, trickling or too many clients cannot hold the server, and whom the app believes
about the client's address.

uvicorn closes a keep-alive connection that stays idle after a response, but has no timeout
for the request head: a connection that never sends anything, or sends its headers a byte at a
time (slowloris), is kept forever. Its ``limit_concurrency`` counts open connections, so a
thousand idle ones would turn every real request into a 503. The protocol below adds a head
timeout, counts only requests in flight against the concurrency limit, and caps open
connections by closing the longest-idle one.

uvicorn also believes ``X-Forwarded-For`` from 127.0.0.1 by default, so anything on the same
host (or a proxy that passes the header through unchanged) could choose the address the
sign-in rate limit and the audit log see. Here uvicorn believes no proxy; the app does, through
uvicorn's own middleware, only for the addresses in ``MAILFLOW_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol

from mailflow.config import Settings

log = logging.getLogger(__name__)

_TIMED_OUT_TEXT = b"the request head was not sent in time\n"
TIMED_OUT_HEAD = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TIMED_OUT_TEXT), _TIMED_OUT_TEXT)
)
RETRY_AFTER_SECONDS = 5


class OncePerInterval:
    """Counts an event and logs it at most once per ``interval`` seconds, with the number seen
    since the last line (a flood of slow clients must not become a flood of log lines)."""

    def __init__(self, message: str, interval: float = 60.0, logger: logging.Logger = log) -> None:
        self.message = message
        self.logger = logger
        self.interval = interval
        self.count = 0
        self.logged_at = float("-inf")

    def note(self, *args: object) -> None:
        self.count += 1
        current = time.monotonic()
        if current - self.logged_at >= self.interval:
            self.logger.warning(self.message, self.count, *args)
            self.count = 0
            self.logged_at = current


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout, an in-flight request limit and a
    connection cap. The limits are class attributes, set by :func:`protocol_for`."""

    head_timeout: float = 10.0
    max_in_flight: int = 100
    max_connections: int = 1000
    slow_heads: OncePerInterval
    overloads: OncePerInterval
    evictions: OncePerInterval

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's own limit counts idle connections too; ours counts requests (below).
        self.limit_concurrency = None
        self.app = self._limited_app
        self.head_timer: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None

    # -- request head timeout ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()
        if len(self.connections) > self.max_connections:
            self._evict_longest_idle()

    def data_received(self, data: bytes) -> None:
        # The timer starts with the first byte of a head and is not extended by later bytes:
        # a head trickled a byte at a time still has to be complete in time.
        if self.conn.their_state is h11.IDLE:
            self._wait_for_head()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.head_timer is None and self.conn.their_state is h11.IDLE:
            self.waiting_since = time.monotonic()  # idle keep-alive: may be evicted

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        if self.head_timer is None:
            self.waiting_since = time.monotonic()
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_received(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self.waiting_since = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        self.slow_heads.note()
        if self.conn.trailing_data[0]:  # part of a head arrived: say why
            self.transport.write(TIMED_OUT_HEAD)
        self.transport.close()

    # -- connection cap --------------------------------------------------------------------
    def _evict_longest_idle(self) -> None:
        idle = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol) and c is not self and c.waiting_since is not None
        ]
        if idle:
            oldest = min(idle, key=lambda c: c.waiting_since or 0.0)
            self.evictions.note()
            oldest._head_received()
            oldest.transport.close()

    # -- requests in flight ----------------------------------------------------------------
    async def _limited_app(self, scope, receive, send) -> None:
        # This request's own task is already in the set.
        if len(self.tasks) > self.max_in_flight:
            self.overloads.note()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"too busy, retry shortly\n"})
            return
        await self.config.loaded_app(scope, receive, send)


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    """A protocol class carrying these settings (uvicorn instantiates it per connection)."""
    return type(
        "MailflowH11Protocol",
        (GuardedH11Protocol,),
        {
            "head_timeout": settings.http_header_timeout_seconds,
            "max_in_flight": settings.http_limit_concurrency,
            "max_connections": settings.http_max_connections,
            "slow_heads": OncePerInterval(
                "closed %d connections that sent no complete request head within "
                f"{settings.http_header_timeout_seconds:g} s (idle or trickling clients)"
            ),
            "overloads": OncePerInterval(
                f"answered %d requests with 503: more than {settings.http_limit_concurrency} "
                "requests in flight (MAILFLOW_HTTP_LIMIT_CONCURRENCY)"
            ),
            "evictions": OncePerInterval(
                f"closed %d idle connections: more than {settings.http_max_connections} open "
                "(MAILFLOW_HTTP_MAX_CONNECTIONS)"
            ),
        },
    )


def trust_proxies(app: FastAPI, settings: Settings) -> None:
    """Believe forwarded headers from the configured proxies only (none by default)."""
    if settings.trusted_proxy_list:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)


def uvicorn_config(
    app, settings: Settings, *, host: str | None = None, port: int | None = None, **options: Any
) -> uvicorn.Config:
    """The uvicorn configuration of ``mailflow run`` and ``mailflow web`` (and of the tests'
    servers, which pick their own port)."""
    listen_host, listen_port = settings.split_listen(settings.http_listen)
    return uvicorn.Config(
        app,
        host=host or listen_host,
        port=port or listen_port,
        http=protocol_for(settings),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        access_log=False,  # full URLs: link tokens must never reach the logs
        proxy_headers=False,  # see trust_proxies
        **options,
    )
