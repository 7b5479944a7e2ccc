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
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailflow.config import Settings
from mailflow.inbound.store import store_inbound
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


class IntakeHandler:
    def __init__(self, settings: Settings, executor: ThreadPoolExecutor | None = None) -> None:
        self.settings = settings
        # Parsing and storing happen off the event loop, so a huge message never stalls
        # the other connections.
        self.executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="smtp-store")

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not accepted_recipient(address, self.settings):
            return f"550 5.1.1 <{address}>: recipient not accepted here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(
                self.executor,
                lambda: store_inbound(
                    raw,
                    Channel.SMTP,
                    settings=self.settings,
                    envelope_from=envelope.mail_from,
                    envelope_to=list(envelope.rcpt_tos),
                ),
            )
        except Exception:
            log.exception("could not store inbound message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary storage failure, please try again later"
        log.info("stored inbound message %s (%d bytes)%s", stored.id, len(raw),
                 "" if stored.created else " [already had it]")
        return f"250 2.0.0 OK queued as {stored.id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is "500 Error: ...", a permanent failure: never for intake.
        log.error("SMTP session error: %r", error)
        return "451 4.3.0 Temporary failure, please try again later"


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
            ready_timeout=10,
        )

    def _trigger_server(self):
        # Port 0 asks the OS for a free port (tests, several frontends on one host): learn it
        # before aiosmtpd connects to its own server to check that it is up.
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
