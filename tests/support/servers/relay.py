"""A real SMTP relay for the tests (aiosmtpd on a loopback port) that records what it receives
and can be told to answer with failures, require STARTTLS and AUTH, or speak implicit TLS."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "relay.crt", directory / "relay.key"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class RelayHandler:
    # Answers to give to DATA, in order; when exhausted every message gets "250".
    answers: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            answer = self.answers.pop(0) if self.answers else "250 2.0.0 OK"
            if answer.startswith("250"):
                self.received.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
                )
        return answer


class Relay:
    def __init__(
        self,
        tmp: Path,
        *,
        answers: list[str] | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.handler = RelayHandler(list(answers or []))
        kwargs: dict = {}
        context = None
        if starttls or implicit_tls or auth:
            cert, key = self_signed_cert(tmp)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        if starttls:
            kwargs.update(tls_context=context, require_starttls=True)
        if auth:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and auth_data.login.decode() == user
                    and auth_data.password.decode() == password
                )
                return AuthResult(success=ok, handled=False)

            # aiosmtpd does not see implicit TLS as TLS, so it only insists on STARTTLS.
            kwargs.update(
                authenticator=authenticator, auth_required=True, auth_require_tls=starttls
            )
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=0,
            ssl_context=context if implicit_tls else None,
            server_hostname="localhost",
            **kwargs,
        )
        self.scheme = "smtps" if implicit_tls else "smtp+starttls" if starttls else "smtp"
        self.auth = auth

    def start(self) -> Relay:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.controller.port = s.getsockname()[1]
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        creds = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        tls = "?verify=false" if self.scheme != "smtp" else ""
        return f"{self.scheme}://{creds}127.0.0.1:{self.controller.port}{tls}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received
