"""Building the MIME message of an outbox row (standard library ``EmailMessage``)."""

from __future__ import annotations

import base64
import random
import re
import sys
from email import quoprimime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, make_msgid
from functools import cache

from mailflow.config import Settings
from mailflow.models import OutboxMessage
from mailflow.outbound.verp import domain_of, verp_address

__all__ = [
    "WIRE_POLICY",
    "build_message",
    "build_raw",
    "domain_of",
    "new_message_id",
    "verp_address",
]


class _WirePolicy(EmailPolicy):
    """The SMTP policy, except that a subject is never folded right after ``Subject:``.
    The standard folder moves a long subject without a fitting first break to the next line
    (``Subject:\r\n Reminder…``), which readers (Python's parser among them) unfold into a
    subject starting with a space. Such a subject is folded at its spaces instead."""

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = super().fold_binary(name, value)
        if name.lower() != "subject" or not folded.startswith(f"{name}:{self.linesep}".encode()):
            return folded
        text = str(value)
        charset = "us-ascii" if text.isascii() else "utf-8"
        header = Header(text, charset, maxlinelen=self.max_line_length, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}".encode("ascii")


WIRE_POLICY = _WirePolicy() + SMTP


def new_message_id(settings: Settings) -> str:
    return make_msgid(idstring="mf", domain=domain_of(settings.from_address))


def build_message(row: OutboxMessage, settings: Settings, *, with_ids: bool = True) -> EmailMessage:
    """The row's message as it goes out; ``with_ids=False``: without the two headers that name
    the row's id (what the row stores: see :func:`wire_bytes`)."""
    msg = EmailMessage()
    if with_ids:
        msg["Return-Path"] = f"<{verp_address(settings, row.id)}>"
        msg["X-Mailflow-Outbox-Id"] = str(row.id)
    msg["From"] = Address(settings.brand.sender_name, addr_spec=settings.from_address)
    msg["To"] = row.to
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id
    # Automatic mail (RFC 3834): no auto-replies back, please, and no out-of-office loops.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in (row.headers or {}).items():
        msg[name] = value
    msg.set_content(row.body_text or "", charset="utf-8", cte="quoted-printable")
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in row.attachments or []:
        maintype, _, subtype = attachment["content_type"].partition("/")
        params = attachment.get("params") or {}
        msg.add_attachment(
            attachment["content"].encode("utf-8"),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
            params=params,
        )
    return msg


# ------------------------------------------------------------------ the wire bytes (#21) ----
# ``build_raw`` writes the bytes ``build_message(...).as_bytes(policy=WIRE_POLICY)`` stands for
# without building an ``EmailMessage``: the policy's header classes and folder cost more than
# the rest of queueing an email. The From line (the sender's display name, through the
# policy) is prepared once per sender, the fixed headers are constant text; the subject is folded at its spaces, or written as RFC 2047
# encoded words (UTF-8, base64) when it is not plain ASCII; bodies are quoted-printable with
# the standard library's own encoder, as before. A header value with CR or LF is refused, as
# the policy refuses it (no header injection). Rows with attachments, and address headers that
# are more than a bare address, still go through ``build_message``.

CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322's "should" (998 is the "must")
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_PLAIN = re.compile(r"[\x20-\x7e]*")
_ADDRESS_HEADERS = {"to", "cc", "bcc", "reply-to", "from", "sender"}
_OWN_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "return-path",
    "x-mailflow-outbox-id",
}


def _refuse_newlines(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: header values may not contain linefeed or carriage return")


def _encoded_words(name: str, value: str) -> str:
    """``value`` as RFC 2047 encoded words (UTF-8, base64), each whole characters and at most
    75 characters, one per line (readers join adjacent encoded words without the space)."""
    room = min(75, MAX_LINE - len(name) - 2) - len("=?utf-8?b??=")
    per_word = max(room // 4, 2) * 3  # bytes per word: its base64 fits the room
    words, chunk = [], b""
    for char in value:
        data = char.encode("utf-8")
        if chunk and len(chunk) + len(data) > per_word:
            words.append(chunk)
            chunk = b""
        chunk += data
    if chunk or not words:
        words.append(chunk)
    return (CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def unstructured_header(name: str, value: str) -> str:
    """``Name: value`` with its CRLF: plain ASCII folded at spaces (never right after the
    colon), anything else (non-ASCII, control characters, a word too long for a line, text
    that looks like an encoded word) as encoded words."""
    _refuse_newlines(name, value)
    line = f"{name}: {value}"
    plain = _PLAIN.fullmatch(value) is not None and "=?" not in value
    if plain and len(line) <= MAX_LINE:
        return line + CRLF
    if plain and value == value.strip() and "  " not in value:
        lines, current = [], f"{name}:"
        for word in value.split(" "):
            if len(current) + 1 + len(word) > MAX_LINE and current != f"{name}:":
                lines.append(current)
                current = ""
            current += " " + word
        lines.append(current)
        if all(len(each) <= MAX_LINE for each in lines):
            return CRLF.join(lines) + CRLF
    return f"{name}: {_encoded_words(name, value)}{CRLF}"


def _policy_header(name: str, value) -> str:
    """One header as the policy writes it (display names, odd addresses)."""
    message = EmailMessage()
    message[name] = value
    return WIRE_POLICY.fold(name, message[name])


def other_header(name: str, value: str) -> str:
    """A header the composers add (Reply-To, List-Unsubscribe…)."""
    _refuse_newlines(name, value)
    if name.lower() in _ADDRESS_HEADERS:
        if _SIMPLE_ADDRESS.fullmatch(value) and len(name) + 2 + len(value) <= MAX_LINE:
            return f"{name}: {value}{CRLF}"
        return _policy_header(name, value)
    if _PLAIN.fullmatch(value) and "=?" not in value and len(name) + 2 + len(value) <= 998:
        # Structured lists of URLs (RFC 2369) stay whole, on one line if need be.
        return f"{name}: {value}{CRLF}"
    return unstructured_header(name, value)


@cache
def _from_line(sender_name: str, from_address: str) -> str:
    return _policy_header("From", Address(sender_name, addr_spec=from_address))


def _qp_part(subtype: str, text: str, *, mime_version: bool = False) -> str:
    """A text part's headers and body, encoded as ``set_content(cte="quoted-printable")``
    encodes it (the same lines, the same encoder)."""
    lines = text.encode("utf-8").splitlines()
    body = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), MAX_LINE, CRLF)
    version = f"MIME-Version: 1.0{CRLF}" if mime_version else ""
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{version}{CRLF}{body}"
    )


def _boundary() -> str:
    # As the generator makes it; "==…" can never occur in a quoted-printable body.
    return f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="


def build_raw(row: OutboxMessage, settings: Settings) -> bytes:
    """What the outbox row ``row`` stores in ``raw``: the bytes ``build_message(...,
    with_ids=False)`` gives with ``WIRE_POLICY``. Its id is not in them, so the row is written
    with its bytes in one INSERT (#21); :func:`wire_bytes` puts the id's headers in front when
    it is sent."""
    if row.attachments:
        return build_message(row, settings, with_ids=False).as_bytes(policy=WIRE_POLICY)
    to = other_header("To", row.to)
    parts = [
        _from_line(settings.brand.sender_name, settings.from_address),
        to,
        unstructured_header("Subject", row.subject),
        f"Date: {format_datetime(row.created_at)}{CRLF}",
        other_header("Message-ID", row.message_id),
        f"Auto-Submitted: auto-generated{CRLF}X-Auto-Response-Suppress: All{CRLF}",
    ]
    for name, value in (row.headers or {}).items():
        if name.lower() in _OWN_HEADERS:  # the policy refuses a second To, Subject…
            raise ValueError(f"{name}: set by the builder, not by a composer")
        parts.append(other_header(name, value))
    if not row.body_html:
        parts.append(_qp_part("plain", row.body_text or "", mime_version=True))
        return "".join(parts).encode("ascii")
    boundary = _boundary()
    parts.append(
        f"MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative;{CRLF}"
        f' boundary="{boundary}"{CRLF}{CRLF}'
    )
    parts.append(f"--{boundary}{CRLF}{_qp_part('plain', row.body_text or '')}{CRLF}")
    parts.append(f"--{boundary}{CRLF}{_qp_part('html', row.body_html, mime_version=True)}{CRLF}")
    parts.append(f"--{boundary}--{CRLF}")
    return "".join(parts).encode("ascii")


_ID_HEADER = b"\nX-Mailflow-Outbox-Id:"


def wire_bytes(
    settings: Settings, outbox_id: int, stored: bytes, *, return_path: str | None = None
) -> bytes:
    """The bytes sent for the outbox row ``outbox_id`` whose ``raw`` is ``stored``: the VERP
    return path (``return_path`` when the caller has it already) and the row's id in front
    (both known only once the row is written). A row queued by an earlier version has them in
    its bytes already."""
    head = stored[: stored.find(b"\r\n\r\n") + 1 or len(stored)]
    if _ID_HEADER in head:
        return stored
    return (
        f"Return-Path: <{return_path or verp_address(settings, outbox_id)}>{CRLF}"
        f"X-Mailflow-Outbox-Id: {outbox_id}{CRLF}"
    ).encode("ascii") + stored
