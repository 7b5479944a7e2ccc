"""The header block of a raw message: read leniently, its Message-ID, and the key that recognises
the same message arriving twice."""

from __future__ import annotations

import hashlib
import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

_MSGID = re.compile(r"<[^<>\s]+>")


def headers_of(raw: bytes) -> Message:
    """The header block of a raw message, parsed leniently (never raises)."""
    ends = [i for i in (raw.find(b"\r\n\r\n", 0, 1 << 20), raw.find(b"\n\n", 0, 1 << 20)) if i >= 0]
    head = raw[: min(ends)] if ends else raw[: 1 << 16]
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    except Exception:
        return BytesHeaderParser(policy=compat32).parsebytes(b"\n\n")


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header, normalised (angle brackets kept, surrounding junk dropped)."""
    try:
        value = headers_of(raw).get("Message-ID")
    except Exception:
        return None
    if not value:
        return None
    value = str(value).strip()
    match = _MSGID.search(value)
    value = match.group(0) if match else value
    return value[:998] or None


def dedup_key_for(raw: bytes, message_id: str | None) -> str:
    if message_id:
        return f"mid:{message_id}"[:512]
    return "sha256:" + hashlib.sha256(raw).hexdigest()
