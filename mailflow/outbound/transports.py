"""Senders behind one small interface, chosen by ``MAILFLOW_OUTBOUND_URL``:
``smtp://``, ``smtps://``, ``smtp+starttls://`` relays (with user and password) and
``maildir:PATH`` (the embedded default: nothing leaves the machine).

``send`` raises :class:`TemporaryFailure` (retry later) or :class:`PermanentFailure` (give up,
with the server's answer). SMTP connections are kept open and reused by the thread that made
them.
"""

from __future__ import annotations

import functools
import mailbox
import smtplib
import ssl
import threading
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class DeliveryError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryFailure(DeliveryError):
    """Try again later (4xx answers, refused connections, time-outs)."""


class PermanentFailure(DeliveryError):
    """The relay refused for good (5xx): retrying will not help."""


class Transport(Protocol):
    def send(
        self, envelope_from: str, recipients: list[str], message: bytes, message_key: str
    ) -> None: ...

    def close(self) -> None: ...


class MaildirTransport:
    """Delivers into a Maildir. Idempotent: the file name is derived from ``message_key``, so
    the same outbox message delivered twice is one file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # Made here, not by ``Maildir(create=True)``: two worker threads sending their first
        # emails at once both found it missing, and the second one's mkdir failed.
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in ("tmp", "new", "cur"):
            (self.path / part).mkdir(mode=0o700, exist_ok=True)
        self.maildir = mailbox.Maildir(self.path, create=False)

    def _name(self, message_key: str) -> str:
        return "mailflow-" + "".join(c if c.isalnum() else "_" for c in message_key)

    def send(
        self, envelope_from: str, recipients: list[str], message: bytes, message_key: str
    ) -> None:
        name = self._name(message_key)
        final = self.path / "new" / name
        if final.exists() or any((self.path / "cur").glob(name + "*")):
            return  # delivered before (the sender was interrupted after delivering)
        tmp = self.path / "tmp" / name
        try:
            with open(tmp, "wb") as fh:
                fh.write(b"Return-Path: <" + envelope_from.encode() + b">\n")
                fh.write(b"Delivered-To: " + ", ".join(recipients).encode() + b"\n")
                fh.write(message.replace(b"\r\n", b"\n"))
                fh.flush()
            tmp.rename(final)
        except OSError as exc:
            raise TemporaryFailure(f"maildir write failed: {exc}") from exc

    def close(self) -> None:
        pass


class SmtpTransport:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme.lower()
        if self.scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError(f"unsupported outbound URL scheme {parts.scheme!r}")
        self.host = parts.hostname or "localhost"
        self.port = parts.port or {"smtp": 25, "smtps": 465, "smtp+starttls": 587}[self.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        self.verify = query.get("verify", "").lower() not in ("0", "false", "no")
        self._connection: smtplib.SMTP | None = None
        self._last_used = 0.0

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """Made on first use: loading the system's certificates takes tens of milliseconds,
        which a plain ``smtp://`` relay never needs."""
        context = ssl.create_default_context()
        if not self.verify:  # for relays with self-signed certificates (and the tests)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        conn.ehlo()
        if self.scheme == "smtp+starttls":
            conn.starttls(context=self.ssl_context)
            conn.ehlo()
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    # A connection idle for longer than this is checked with NOOP before use (relays drop
    # idle clients); a busy one is used as it is, and re-opened once if it turns out closed.
    IDLE_CHECK_SECONDS = 10.0

    def _live_connection(self) -> tuple[smtplib.SMTP, bool]:
        """The connection and whether it was reused without a check."""
        if self._connection is not None:
            if time.monotonic() - self._last_used < self.IDLE_CHECK_SECONDS:
                return self._connection, True
            try:
                if self._connection.noop()[0] == 250:
                    return self._connection, False
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        self._connection = self._connect()
        return self._connection, False

    def _sendmail(self, envelope_from: str, recipients: list[str], message: bytes) -> dict:
        conn, unchecked = self._live_connection()
        try:
            return conn.sendmail(envelope_from, recipients, message)
        except smtplib.SMTPServerDisconnected:
            if not unchecked:
                raise
            # The relay closed a connection we thought was alive; nothing was accepted.
            self._drop()
            conn, _ = self._live_connection()
            return conn.sendmail(envelope_from, recipients, message)
        finally:
            self._last_used = time.monotonic()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
        self._connection = None

    def send(
        self, envelope_from: str, recipients: list[str], message: bytes, message_key: str
    ) -> None:
        try:
            refused = self._sendmail(envelope_from, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, answer = next(iter(exc.recipients.values()))
            raise _failure(code, answer) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise _failure(exc.smtp_code, exc.smtp_error) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TemporaryFailure(f"relay {self.host}:{self.port}: {exc}") from exc
        if refused:
            code, answer = next(iter(refused.values()))
            raise _failure(code, answer)

    def _reset(self) -> None:
        try:
            if self._connection is not None:
                self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
        self._drop()


def _failure(code: int, answer: bytes | str) -> DeliveryError:
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
    message = f"{code} {text}"
    if 500 <= code < 600:
        return PermanentFailure(message, code)
    return TemporaryFailure(message, code)


def make_transport(url: str) -> Transport:
    if url.startswith("maildir:"):
        return MaildirTransport(Path(url.removeprefix("maildir:").removeprefix("//")))
    return SmtpTransport(url)


_local = threading.local()


def thread_transport(url: str) -> Transport:
    """One transport per worker thread and URL, so relay connections are reused."""
    cache = getattr(_local, "transports", None)
    if cache is None:
        cache = _local.transports = {}
    transport = cache.get(url)
    if transport is None:
        transport = cache[url] = make_transport(url)
    return transport
