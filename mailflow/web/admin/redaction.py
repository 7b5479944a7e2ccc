"""Link tokens never reach an admin page.

Every email we send carries credentials of its recipient: accept, decline, reveal, status,
survey, vacation and sign-in links (``/l/<purpose>/<token>``) and the ``reply+<token>@``
address. A read-only viewer who could copy one from the outbox preview could act as that
installer or customer, so everything that shows email content (the outbox and inbound pages,
their raw sources) goes through this module first.

A token is recognised by its shape, whatever surrounds it (a link, the reply address, a URL
quoted inside a tracking redirect, a pasted token): itsdangerous writes
``payload.timestamp.signature`` in URL-safe base64, the payload starting with ``.`` when
compressed. MIME bodies are redacted after decoding (quoted-printable soft line breaks and
base64 would otherwise hide a token from the pattern) and encoded again, so a raw source stays
a valid message.
"""

from __future__ import annotations

import email
import re
from email import encoders
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from io import BytesIO

from mailflow.models import OutboxMessage

REDACTED = "…redacted"
_REDACTED_BYTES = b"[redacted]"  # ASCII: raw sources keep their declared charsets valid

# payload . timestamp (4 bytes → 6 chars) . signature (HMAC: 27 chars for SHA-1, more for
# longer digests). Bounded by characters that cannot be part of a token.
_SHAPE = r"\.?[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{4,12}\.[A-Za-z0-9_\-]{20,}"
_TOKEN = re.compile(rf"(?<![A-Za-z0-9_\-.]){_SHAPE}(?![A-Za-z0-9_\-])")
_TOKEN_BYTES = re.compile(rf"(?<![A-Za-z0-9_\-.]){_SHAPE}(?![A-Za-z0-9_\-])".encode())
# Also whatever follows a link path or the reply address, even if it is not token-shaped (a
# token of another format, a truncated one): it is never anything an admin needs to read.
_LINK = re.compile(r"(/l/[a-z]{2,12}/)[^\s\"'<>()\[\]]+")
_LINK_BYTES = re.compile(rb"(/l/[a-z]{2,12}/)[^\s\"'<>()\[\]]+")
# Bounded: a token is far shorter, and an unbounded run would make the search quadratic.
_REPLY = re.compile(r"(reply\+)[^\s@+\"'<>]{1,200}(@)", re.IGNORECASE)
_REPLY_BYTES = re.compile(rb"(reply\+)[^\s@+\"'<>]{1,200}(@)", re.IGNORECASE)

# Nested messages (bounces quote ours) are redacted too, down to this depth.
MAX_DEPTH = 5


def redact_text(text: str | None) -> str:
    """The text with every link token replaced (``/l/accept/…redacted``)."""
    if not text:
        return text or ""
    text = _LINK.sub(lambda m: m.group(1) + REDACTED, text)
    text = _REPLY.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    return _TOKEN.sub(REDACTED, text)


def redact_bytes(data: bytes) -> bytes:
    """The same on bytes of any ASCII-compatible charset (tokens are ASCII)."""
    data = _LINK_BYTES.sub(lambda m: m.group(1) + _REDACTED_BYTES, data)
    data = _REPLY_BYTES.sub(lambda m: m.group(1) + _REDACTED_BYTES + m.group(2), data)
    return _TOKEN_BYTES.sub(_REDACTED_BYTES, data)


def redact_headers(headers: dict | None) -> dict:
    return {name: redact_text(str(value)) for name, value in (headers or {}).items()}


# ------------------------------------------------------------------ MIME --------------------
def _decoded_header(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # a broken encoded word: the raw value is what there is
        return value


def _redact_header_values(message: Message) -> None:
    names = {name.lower(): name for name in message.keys()}
    for name in names.values():
        values = [str(v) for v in message.get_all(name, [])]
        decoded = [_decoded_header(v) for v in values]
        if all(
            redact_text(d) == d and redact_text(v) == v
            for v, d in zip(values, decoded, strict=True)
        ):
            continue
        del message[name]  # every occurrence, put back in order, redacted
        for value in decoded:
            value = redact_text(value)
            message[name] = value if value.isascii() else make_header([(value, "utf-8")]).encode()


def _reencode(part: Message, data: bytes) -> None:
    transfer = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    del part["Content-Transfer-Encoding"]
    part.set_payload(data)
    if transfer == "base64":
        encoders.encode_base64(part)
    elif transfer == "quoted-printable":
        encoders.encode_quopri(part)
    else:
        encoders.encode_7or8bit(part)


def _redact_part(part: Message, depth: int) -> None:
    _redact_header_values(part)
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _redact_part(sub, depth)
        return
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes | bytearray):
        return
    data = bytes(data)
    if part.get_content_maintype() == "message" or part.get_content_type() == "text/rfc822-headers":
        # A message inside (encoded against the rules, or as headers only): its own bodies
        # may be encoded once more.
        redacted = redact_message(data, depth + 1) if depth < MAX_DEPTH else redact_bytes(data)
    else:
        redacted = redact_bytes(data)
    if redacted != data:
        _reencode(part, redacted)


def redact_message(raw: bytes, depth: int = 0) -> bytes:
    """The MIME message with every token removed from its headers and decoded bodies,
    encoded again as it was; the bytes as they came when there was nothing to remove. A last
    pass over the bytes catches what the parser did not reach (preambles, broken structure)."""
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        before = _fingerprint(message)
        _redact_part(message, depth)
        if _fingerprint(message) != before:
            out = BytesIO()
            linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
            policy = compat32.clone(linesep=linesep)
            BytesGenerator(out, mangle_from_=False, policy=policy).flatten(message)
            raw = out.getvalue()
    except Exception:  # hostile input must still be shown, just without tokens
        pass
    return redact_bytes(raw)


def _fingerprint(message: Message) -> list:
    """What redaction may change: every header and every leaf's encoded payload."""
    return [
        (list(part.items()), None if part.is_multipart() else part.get_payload())
        for part in message.walk()
    ]


def redacted_copy(row):
    """A detached copy of an outbox row with its subject, bodies, headers and attachments
    redacted: what the preview shows and the raw source is built from."""
    return OutboxMessage(
        id=row.id,
        to=row.to,
        template=row.template,
        language=row.language,
        subject=redact_text(row.subject),
        body_text=redact_text(row.body_text) if row.body_text else row.body_text,
        body_html=redact_text(row.body_html) if row.body_html else row.body_html,
        headers=redact_headers(row.headers),
        attachments=[
            {**a, "content": redact_text(a.get("content"))} for a in (row.attachments or [])
        ]
        or None,
        message_id=row.message_id,
        created_at=row.created_at,
        lead_id=row.lead_id,
        installer_id=row.installer_id,
    )
