"""Store a raw inbound message durably, once.

The adapters (SMTP handler, IMAP poller, webhook) call :func:`store_inbound` and only after it
returns acknowledge the message (250, IMAP flag, HTTP answer). The same message arriving again
(same Message-ID, or the same bytes when it has none) is recognised and not stored twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.models import Channel, InboundMessage

_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Stored:
    id: int
    created: bool  # False: the same message was already stored


def headers_of(raw: bytes):
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


def store_inbound(
    raw: bytes,
    channel: Channel,
    *,
    settings: Settings | None = None,
    envelope_from: str | None = None,
    envelope_to: list[str] | None = None,
    imap_uidvalidity: int | None = None,
    imap_uid: int | None = None,
    dedup_key: str | None = None,
) -> Stored:
    """Commit the raw message and enqueue its processing after commit. Raises on any storage
    failure (the caller answers "try again later")."""
    from mailflow.inbound.actors import process_inbound
    from mailflow.tasks import enqueue_on_commit

    message_id = message_id_of(raw)
    key = dedup_key or dedup_key_for(raw, message_id)
    existing = _find(key, settings)
    if existing is not None:
        return Stored(existing, created=False)
    from mailflow.config import get_settings
    from mailflow.inbound import blobs

    settings = settings or get_settings()
    raw_path = blobs.write(settings, raw) if blobs.spills(settings, len(raw)) else None
    try:
        with session_scope(settings) as session:
            row = InboundMessage(
                channel=channel,
                dedup_key=key,
                message_id=message_id,
                envelope_from=envelope_from,
                envelope_to=",".join(envelope_to) if envelope_to else None,
                imap_uidvalidity=imap_uidvalidity,
                imap_uid=imap_uid,
                size=len(raw),
                raw=None if raw_path else raw,
                raw_path=raw_path,
                received_at=now(),
            )
            session.add(row)
            session.flush()
            enqueue_on_commit(session, process_inbound, row.id)
            new_id = row.id
    except IntegrityError:
        # Raced with another frontend storing the same message: theirs stands.
        existing = _find(key, settings)
        if existing is None:
            raise
        return Stored(existing, created=False)
    return Stored(new_id, created=True)


def _find(key: str, settings: Settings | None) -> int | None:
    with session_scope(settings) as session:
        return session.scalar(select(InboundMessage.id).where(InboundMessage.dedup_key == key))
