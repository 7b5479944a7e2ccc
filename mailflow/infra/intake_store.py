"""Store a raw inbound message durably, once.

The adapters (SMTP handler, IMAP poller, webhook) call :func:`store_inbound` and only after it
returns acknowledge the message (250, IMAP flag, HTTP answer). The same message arriving again
(same Message-ID, or the same bytes when it has none) is recognised and not stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.headers import dedup_key_for, message_id_of
from mailflow.infra import blobs
from mailflow.infra.enqueue import enqueue_on_commit, send_now
from mailflow.models import Channel, InboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    id: int
    created: bool  # False: the same message was already stored


@dataclass(frozen=True)
class Incoming:
    """One message to store, as an adapter received it."""

    raw: bytes
    channel: Channel
    envelope_from: str | None = None
    envelope_to: list[str] | None = None
    imap_uidvalidity: int | None = None
    imap_uid: int | None = None
    dedup_key: str | None = None


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
    incoming = Incoming(
        raw, channel, envelope_from, envelope_to, imap_uidvalidity, imap_uid, dedup_key
    )
    return store_many([incoming], settings)[0]


def store_many(
    items: list[Incoming], settings: Settings | None = None, *, enqueue: bool = True
) -> list[Stored]:
    """Commit several messages in one transaction (group commit: the SMTP frontend stores the
    messages that arrive while the previous commit runs together), then enqueue their
    processing (``enqueue=False``: the caller does, see ``enqueue_processing``). Returns one
    ``Stored`` per item, in order; raises (nothing stored) on failure.

    The rows are inserted with ``ON CONFLICT (dedup_key) DO NOTHING``: new messages (by far
    the common case) cost one statement for the whole batch, and the unique key decides
    between two frontends storing the same message at the same moment."""
    settings = settings or get_settings()
    rows = []
    for item in items:
        message_id = message_id_of(item.raw)
        spilled = blobs.spills(settings, len(item.raw))
        rows.append(
            {
                "channel": item.channel,
                "dedup_key": item.dedup_key or dedup_key_for(item.raw, message_id),
                "message_id": message_id,
                "envelope_from": item.envelope_from,
                "envelope_to": ",".join(item.envelope_to) if item.envelope_to else None,
                "imap_uidvalidity": item.imap_uidvalidity,
                "imap_uid": item.imap_uid,
                "size": len(item.raw),
                # Written (and fsynced) before the row that points to it commits. A file is
                # named by its content: a duplicate's file is the existing row's.
                "raw": None if spilled else item.raw,
                "raw_path": blobs.write(settings, item.raw) if spilled else None,
                "received_at": now(),
            }
        )
    with session_scope(settings) as session:
        connection = session.connection()
        insert, find = _statements(connection.dialect.name)
        # One statement for the batch (SQLAlchemy sends it as multi-row VALUES); RETURNING
        # names the rows that were new, the others are already known.
        created = dict((key, row_id) for row_id, key in connection.execute(insert, rows).all())
        known = set(row["dedup_key"] for row in rows) - created.keys()
        existing = dict(connection.execute(find, {"keys": sorted(known)}).all()) if known else {}
        results: list[Stored] = []
        for row in rows:
            key = row["dedup_key"]
            if key in created:
                new_id = created.pop(key)  # the same message twice in a batch: one row
                existing[key] = new_id
                results.append(Stored(new_id, created=True))
                if enqueue:
                    enqueue_on_commit(session, "process_inbound", new_id)
            elif key in existing:
                results.append(Stored(existing[key], created=False))
            else:  # another transaction holds it, uncommitted: try again later
                raise RuntimeError(f"message {key!r} is being stored elsewhere")
    return results


@cache
def _statements(dialect: str):
    """The insert (nothing on a known dedup_key) and the lookup, built once: executed with
    parameters they hit SQLAlchemy's compiled cache, the intake's hottest path."""
    table = InboundMessage.__table__
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    insert = insert.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(
        table.c.id, table.c.dedup_key
    )
    find = select(table.c.dedup_key, table.c.id).where(
        table.c.dedup_key.in_(bindparam("keys", expanding=True))
    )
    return insert, find


# The SMTP frontend sends one broker message per this many stored messages of a group commit
# (one Redis round trip instead of one per email, #21); small enough that a burst still spreads
# over every worker thread.
INBOUND_JOB_BATCH = 10


def enqueue_processing(stored: list[Stored]) -> None:
    """Enqueue the processing of newly stored messages (after their commit), a few per job.
    Should the broker be unreachable, the sweep processes what stays pending."""
    new = [item.id for item in stored if item.created]
    for start in range(0, len(new), INBOUND_JOB_BATCH):
        ids = new[start : start + INBOUND_JOB_BATCH]
        try:
            if len(ids) == 1:
                send_now("process_inbound", ids[0])
            else:
                send_now("process_inbound_batch", ids)
        except Exception as exc:
            log.warning(
                "could not enqueue inbound messages %s (%s); the sweep will process them",
                ids,
                exc,
            )
