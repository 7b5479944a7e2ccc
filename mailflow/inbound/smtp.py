"""The SMTP intake (aiosmtpd). A thin adapter: cheap envelope checks, then the raw message is
committed off the event loop, and only then is it answered ``250``.

aiosmtpd answers an exception escaping a handler with a permanent ``500``, which would make the
sending MTA bounce the lead; every storage failure is therefore turned into ``451 4.3.0`` here
so the sender retries later and nothing is lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from mailflow.config import Settings
from mailflow.db import is_database_unavailable, log_failure
from mailflow.inbound.smtp_data import DotStuffed, read_data
from mailflow.inbound.smtp_limits import (
    ConnectionLimits,
    ThrottledLog,
    connection_cap,
    quiet_accept_errors,
)
from mailflow.infra.intake_store import Incoming, Stored, enqueue_processing, store_many
from mailflow.metrics import SMTP_ANSWERS, SMTP_STORE_SECONDS
from mailflow.models import Channel

log = logging.getLogger(__name__)


def accepted_recipient(address: str, settings: Settings) -> bool:
    """The intake address, its ``+tag`` variants, and our VERP/reply addresses (which share
    the domain of the sender address or of the intake address)."""
    local, _, domain = address.strip("<> ").lower().rpartition("@")
    if not local:
        return False
    intake_local, _, intake_domain = settings.intake_address.lower().rpartition("@")
    from_domain = settings.from_address.lower().rpartition("@")[2]
    base = local.split("+", 1)[0]
    if domain == intake_domain and base == intake_local:
        return True
    if domain in (intake_domain, from_domain) and re.fullmatch(r"(bounces|reply)\+[^@]+", local):
        return True
    return False


class GroupCommit:
    """Stores messages from the event loop, several per transaction.

    A message that arrives while ``concurrency`` commits are already running waits for the
    next one and shares it with every other message that arrived meanwhile: under load one
    commit (one fsync, one lock hand-over) serves many messages, and an idle frontend still
    stores each message at once. Every message's sender gets its answer only after the commit
    that holds it."""

    MAX_BATCH = 100

    def __init__(self, settings: Settings, executor: ThreadPoolExecutor, concurrency: int):
        self.settings = settings
        self.executor = executor
        self.concurrency = concurrency
        self.pending: list[tuple[Incoming, asyncio.Future]] = []
        self.running = 0
        # Its own thread: enqueueing never delays a commit.
        self.enqueuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-enqueue")

    async def store(self, item: Incoming) -> Stored:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.running < self.concurrency:
            self.running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch = self.pending[: self.MAX_BATCH]
                del self.pending[: self.MAX_BATCH]
                try:
                    results = await loop.run_in_executor(self.executor, self._store, batch)
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                # The senders have their 250; the processing jobs go to the broker meanwhile.
                stored = [r for r in results if isinstance(r, Stored)]
                loop.run_in_executor(self.enqueuer, enqueue_processing, stored)
        finally:
            self.running -= 1

    def _store(self, batch) -> list:
        items = [item for item, _ in batch]
        try:
            return store_many(items, self.settings, enqueue=False)
        except Exception as exc:
            if len(items) == 1 or is_database_unavailable(exc):
                raise
        # One message the database refuses must not fail its batch-mates: one by one.
        results: list = []
        for item in items:
            try:
                results.append(store_many([item], self.settings, enqueue=False)[0])
            except Exception as exc:
                results.append(exc)
        return results


class IntakeHandler:
    # Messages above this size are stored by their own small pool of threads, so that a burst
    # of huge messages never makes an ordinary lead wait for a free thread.
    BULK_BYTES = 1024 * 1024

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Storing happens off the event loop.
        self.quick = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smtp-store")
        self.bulk = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smtp-store-bulk")
        # SQLite has one writer: two batches in flight keep it busy; PostgreSQL commits in
        # parallel.
        sqlite = settings.sqlalchemy_url.startswith("sqlite")
        self.group = GroupCommit(settings, self.quick, concurrency=2 if sqlite else 4)

    def close(self) -> None:
        """Finish the stores under way (drop those not started), then their enqueues."""
        for executor in (self.quick, self.bulk):
            executor.shutdown(wait=True, cancel_futures=True)
        self.group.enqueuer.shutdown(wait=True)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not accepted_recipient(address, self.settings):
            return f"550 5.1.1 <{address}>: recipient not accepted here"
        if len(envelope.rcpt_tos) >= self.settings.smtp_max_recipients:
            # RFC 5321 4.5.3.1.10: the sender delivers the rest in another transaction.
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        started = time.monotonic()

        def incoming() -> Incoming:
            raw = content.unstuffed() if isinstance(content, DotStuffed) else bytes(content)
            return Incoming(
                raw,
                Channel.SMTP,
                envelope_from=envelope.mail_from,
                envelope_to=list(envelope.rcpt_tos),
            )

        def store_big() -> tuple[Incoming, Stored]:
            item = incoming()
            return item, store_many([item], self.settings)[0]

        try:
            if len(content) > self.BULK_BYTES:  # unstuffing megabytes too: off the event loop
                item, stored = await loop.run_in_executor(self.bulk, store_big)
            else:
                item = incoming()
                stored = await self.group.store(item)
        except Exception:
            log_failure(log, "could not store inbound message from %s", envelope.mail_from)
            SMTP_ANSWERS.labels("temporary_failure").inc()
            return "451 4.3.0 Temporary storage failure, please try again later"
        # No INFO line per message (a measurable cost at hundreds of messages per second,
        # #21): mailflow_smtp_messages_total and mailflow_smtp_store_seconds count them.
        SMTP_STORE_SECONDS.observe(time.monotonic() - started)
        log.debug(
            "stored inbound message %s (%d bytes) in %.3fs%s",
            stored.id,
            len(item.raw),
            time.monotonic() - started,
            "" if stored.created else " [already had it]",
        )
        SMTP_ANSWERS.labels("stored" if stored.created else "duplicate").inc()
        return f"250 2.0.0 OK queued as {stored.id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is "500 Error: ...", a permanent failure: never for intake.
        log.error("SMTP session error: %r", error)
        return "451 4.3.0 Temporary failure, please try again later"


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP session with the intake's limits: a cap on open connections (per client
    address and in total), idle timeouts while waiting for a command and during DATA, and a
    DATA reader that accepts lines of any length and works in large chunks (see smtp_data)."""

    def __init__(self, handler, *, limits: ConnectionLimits, data_timeout: float, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.data_timeout = data_timeout
        self.client: str | None = None  # the admitted client's address
        self.refused = False
        self.reading_data = False

    def __dir__(self) -> list[str]:
        # aiosmtpd's SMTP.__init__ finds the command and AUTH methods with dir() and
        # inspect.getmembers() on every new connection, which read each of the session's
        # ~200 attributes: a fifth of the frontend's CPU per message (#21). Those methods are
        # the class's: listed once.
        return _session_method_names(type(self))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.client is None:
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else "unknown"
            if not self.limits.admit(client):
                # RFC 5321 3.8: 421 and close; the sender tries again later.
                self.refused = True
                transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
                transport.close()
                return
            self.client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return
        self.limits.release(self.client)
        self.client = None
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if self.reading_data:  # during DATA any bytes are progress: not idle
            self._reset_timeout(self.data_timeout)
        super().data_received(data)

    def eof_received(self) -> bool | None:
        if self.refused:
            return False
        return super().eof_received()

    def _timeout_cb(self) -> None:
        if self.transport is not None:
            self.transport.write(b"421 4.4.2 Idle too long, closing connection\r\n")
        super()._timeout_cb()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self._reset_timeout(self.data_timeout)
        self.reading_data = True
        try:
            data, too_much = await read_data(self._reader, self.data_size_limit)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("connection lost during DATA")
            return
        finally:
            self.reading_data = False
        if too_much:
            self._reset_timeout()
            await self.push("552 5.3.4 Error: Too much mail data")
            self._set_post_data_state()
            return
        # Storing is bounded by the database's own timeouts; the answer must not be cut off.
        self._timeout_handle.cancel()
        # Un-stuffing happens in the storing thread (see IntakeHandler), off the event loop.
        self.envelope.content = self.envelope.original_content = data
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        self._reset_timeout()
        await self.push("250 OK" if status is MISSING else status)


@functools.cache
def _session_method_names(cls: type) -> list[str]:
    return [name for name in dir(cls) if name.startswith(("smtp_", "auth_"))]


class IntakeController(Controller):
    def __init__(self, settings: Settings, hostname: str | None = None, port: int | None = None):
        host, listen_port = settings.split_listen(settings.smtp_listen)
        self.settings = settings
        super().__init__(
            IntakeHandler(settings),
            hostname=hostname or host,
            port=listen_port if port is None else port,
            data_size_limit=settings.max_message_size,
            ident="mailflow intake",
            # The greeting's name, looked up once (aiosmtpd would call getfqdn per connection).
            server_hostname=socket.getfqdn(),
            ready_timeout=10,
            timeout=settings.smtp_command_timeout,
        )
        warnings = ThrottledLog(log)
        self.limits = ConnectionLimits(
            connection_cap(settings.smtp_max_connections),
            settings.smtp_max_connections_per_client,
            warnings,
        )
        self.loop.set_exception_handler(quiet_accept_errors(warnings))

    def _trigger_server(self):
        # Port 0 asks the OS for a free port (tests, several frontends on one host): learn it
        # before aiosmtpd connects to its own server to check that it is up.
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def stop(self, no_assert: bool = False) -> None:
        """Stop accepting, then let the stores already running commit and their processing
        jobs reach the broker, before the caller closes the broker (the embedded Redis): an
        enqueue against a closed Redis retries with backoff and held the process past its stop
        timeout. A message whose store had not started gets no answer and is sent again."""
        super().stop(no_assert)
        self.handler.close()

    def factory(self) -> IntakeSMTP:
        return IntakeSMTP(
            self.handler,
            limits=self.limits,
            data_timeout=self.settings.smtp_data_timeout,
            **self.SMTP_kwargs,
        )
