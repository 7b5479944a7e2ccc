"""The SMTP intake (aiosmtpd). A thin adapter: cheap envelope checks, then the raw message is
committed off the event loop, and only then is it answered ``250``.

aiosmtpd answers an exception escaping a handler with a permanent ``500``, which would make the
sending MTA bounce the lead; every storage failure is therefore turned into ``451 4.3.0`` here
so the sender retries later and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from mailflow.config import Settings
from mailflow.db import is_database_unavailable, log_failure
from mailflow.inbound.store import Incoming, Stored, enqueue_processing, store_many
from mailflow.metrics import SMTP_ANSWERS
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
        log.info(
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


class DotStuffed(bytearray):
    """DATA as received: lines that began with "." still carry the extra dot."""

    def unstuffed(self) -> bytes:
        data = self[1:] if self.startswith(b".") else self
        return bytes(data.replace(b"\r\n..", b"\r\n."))


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP with a DATA reader that works in large chunks.

    aiosmtpd reads DATA one line at a time in Python; ten 20 MB messages are millions of lines
    and keep the event loop busy for seconds, stalling every other session. Here the stream is
    searched for the terminating ``CRLF.CRLF`` by asyncio's buffer search (C speed), and dot
    un-stuffing is one ``bytes.replace``. Bytes after the terminator stay in the stream, so
    pipelined commands work as before.
    """

    TERMINATOR = b"\r\n.\r\n"

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
        try:
            data, too_much = await self._read_data()
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("connection lost during DATA")
            return
        if too_much:
            await self.push("552 5.3.4 Error: Too much mail data")
            self._set_post_data_state()
            return
        # Un-stuffing happens in the storing thread (see IntakeHandler), off the event loop.
        self.envelope.content = self.envelope.original_content = DotStuffed(data)
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytearray, bool]:
        """The raw DATA (still dot-stuffed, without the final ``.CRLF``) and whether it went
        over the size limit (in which case it was read and thrown away)."""
        reader = self._reader
        limit = self.data_size_limit
        data = bytearray()
        size = 0
        too_much = False

        def keep(piece: bytes) -> None:
            nonlocal size, too_much
            size += len(piece)
            if limit and size > limit:
                too_much = True
                data.clear()
            elif not too_much:
                data.extend(piece)

        at_line_start = True
        while True:
            if at_line_start:
                # The terminator right at a line start (an empty message, or after a chunk that
                # ended with CRLF) is ".CRLF" without the CRLF we already consumed.
                first = await reader.readexactly(1)
                if first == b".":
                    rest = await reader.readexactly(2)
                    if rest == b"\r\n":
                        return data, too_much
                    keep(first + rest)
                else:
                    keep(first)
                at_line_start = False
                continue
            try:
                piece = await reader.readuntil(self.TERMINATOR)
            except asyncio.LimitOverrunError as overrun:
                # No terminator within the buffer: take what is certainly message data (asyncio
                # leaves a possible partial terminator in the buffer) and go on.
                piece = await reader.readexactly(overrun.consumed)
                keep(piece)
                at_line_start = piece.endswith(b"\r\n")
                continue
            keep(piece[:-3])  # keep the CRLF that ends the last line, drop ".CRLF"
            return data, too_much


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
        )

    def _trigger_server(self):
        # Port 0 asks the OS for a free port (tests, several frontends on one host): learn it
        # before aiosmtpd connects to its own server to check that it is up.
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self) -> IntakeSMTP:
        return IntakeSMTP(self.handler, **self.SMTP_kwargs)
