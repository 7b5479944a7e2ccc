"""The transactional outbox.

``queue_email`` writes the rendered message as a row in the caller's transaction (so the state
change and its email commit together or not at all) and enqueues the send after commit.
``deliver`` sends one row: it claims the row with a conditional update (only one worker can
move it from ``queued`` to ``sending``), sends, and records the result. Temporary failures are
retried with exponential backoff (``next_attempt_at`` lives in the row); permanent ones leave
the row ``failed`` with the server's answer. The sweep re-enqueues rows whose job was lost and
releases rows left ``sending`` by a worker that died.

A row's ``channel`` says how it goes out: ``email`` through the mail transport, ``webhook`` as a
signed POST to an installer's own tools (:mod:`mailflow.outbound.webhooks`). Claims, attempts,
backoff, giving up and the admin's retry and cancel are the same for both; a batch only takes
rows of the channel of the row it was started for (a slow webhook never holds up mail).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Integer, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mailflow.config import Settings
from mailflow.db import get_engine, session_scope
from mailflow.infra.enqueue import IdOf, enqueue_on_commit, send_now
from mailflow.metrics import observe_send
from mailflow.models import Installer, OutboxMessage, OutboxState
from mailflow.outbound import webhooks
from mailflow.outbound.emails import UNSUBSCRIBE_HEADERS, EmailSpec, unsubscribe_headers
from mailflow.outbound.message import build_raw, new_message_id, verp_address, wire_bytes
from mailflow.outbound.templates import render_email
from mailflow.outbound.transports import PermanentFailure, TemporaryFailure, thread_transport

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A worker that holds a row in "sending" longer than this is presumed dead (the actor's own
# time limit is far shorter), and the row goes back to the queue.
SENDING_LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 1 hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def queue_email(
    session: Session, spec: EmailSpec, *, now: datetime, settings: Settings
) -> OutboxMessage:
    rendered = render_email(
        spec.template, spec.language, spec.context, brand=settings.brand, audience=spec.audience
    )
    # Mail clients show an unsubscribe button for optional mail only (outbound.emails).
    headers = {k: v for k, v in spec.headers.items() if k not in UNSUBSCRIBE_HEADERS}
    headers.update(unsubscribe_headers(spec.template, spec.context))
    row = OutboxMessage(
        to=spec.to,
        template=spec.template,
        language=spec.language,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        headers=headers,
        attachments=spec.attachments,
        state=OutboxState.QUEUED,
        message_id=new_message_id(settings),
        lead_id=spec.lead_id,
        installer_id=spec.installer_id,
        created_at=now,
        next_attempt_at=None,  # due at once (only retries wait)
    )
    # Written with its bytes in one INSERT, whenever the session next flushes (the id is not in
    # the stored bytes: ``wire_bytes`` adds it when sending); the job names the row's id once
    # the commit has written it.
    row.raw = build_raw(row, settings)
    session.add(row)
    enqueue_on_commit(session, "send_email", IdOf(row))
    return row


@dataclass(frozen=True)
class DeliveryResult:
    state: OutboxState | None  # None: nothing done (not due, or another worker has it)
    retry_in: timedelta | None = None


@dataclass(frozen=True)
class Claimed:
    id: int
    to: str
    raw: bytes
    message_key: str
    attempts: int
    channel: str = "email"
    installer_id: int | None = None
    # Webhooks: the installer's URL and secret as they are now (read after the claim).
    secret: str | None = None


def claim(
    connection, outbox_id: int, now: datetime, batch: int = 1, channel: str | None = "email"
) -> list[Claimed]:
    """Move the row, and up to ``batch - 1`` due rows of the same channel queued after it, from
    queued to sending. The state is re-checked by the UPDATE itself, so a row goes to exactly
    one caller. ``channel`` None: the row's own, and nothing is claimed unless the row is
    queued (one statement for what a read of the row and the claim did).

    The batch is read through the ``(state, id)`` index from this row on, in id order, so a
    claim costs the same with ten or ten thousand rows queued (#21); rows queued before this
    one have jobs of their own, and rows another claim is taking are skipped. The UPDATE's own state check is written as an expression
    (``coalesce``) so that SQLite, which has no statistics, finds the rows by their ids instead
    of reading every queued row through the state index; PostgreSQL re-checks it on a row
    another claim changed meanwhile."""
    postgres = connection.dialect.name == "postgresql"
    params = {"from_id": outbox_id, "at": now, "batch": batch, "of_channel": channel}
    rows = connection.execute(_claim_statement(postgres, channel is None), params).all()
    claimed = [
        Claimed(
            r.id,
            r.to,
            r.raw or b"",
            r.message_id or str(r.id),
            r.attempts,
            r.channel,
            r.installer_id,
        )
        for r in sorted(rows, key=lambda r: r.id != outbox_id)
    ]
    return [_with_webhook(connection, item) for item in claimed]


@cache
def _claim_statement(postgres: bool, of_its_row: bool = False):
    """``claim``'s statement, built once (#21): ``:from_id``, ``:at``, ``:batch``,
    ``:of_channel`` (an UPDATE's parameters may not bear its columns' names). ``of_its_row``:
    the channel is the row's own, read by the statement, and nothing is claimed unless the
    row is queued (no ``:of_channel``)."""
    now = bindparam("at")
    due_time = or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now)
    if of_its_row:
        own = aliased(OutboxMessage)
        channel = (
            select(own.channel)
            .where(own.id == bindparam("from_id"), own.state == OutboxState.QUEUED)
            .scalar_subquery()
        )
    else:
        channel = bindparam("of_channel")
    ids = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == OutboxState.QUEUED,
            OutboxMessage.id >= bindparam("from_id"),
            due_time,
            OutboxMessage.channel == channel,
        )
        .order_by(OutboxMessage.id)
        .limit(bindparam("batch", type_=Integer))
    )
    if postgres:
        # Locked in id order, a row another claim holds left to it (SKIP LOCKED), so claims
        # whose batches overlap never wait for each other (they deadlocked: the UPDATE locked
        # its rows in no particular order). Materialised, so the batch is chosen once: as an
        # IN (subquery) PostgreSQL could run it again and claim more than ``batch`` rows.
        chosen = ids.with_for_update(skip_locked=True).cte("batch").prefix_with("MATERIALIZED")
        in_batch = OutboxMessage.id == chosen.c.id
    else:  # one writer: the subquery is read once, in the UPDATE's own transaction
        in_batch = OutboxMessage.id.in_(ids)
    still_queued = func.coalesce(OutboxMessage.state, OutboxMessage.state) == OutboxState.QUEUED
    return (
        update(OutboxMessage)
        .where(in_batch, still_queued, due_time)
        .values(state=OutboxState.SENDING, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(
            OutboxMessage.id,
            OutboxMessage.to,
            OutboxMessage.raw,
            OutboxMessage.message_id,
            OutboxMessage.attempts,
            OutboxMessage.channel,
            OutboxMessage.installer_id,
        )
    )


def _with_webhook(connection, item: Claimed) -> Claimed:
    """A webhook goes to the installer's URL as it is now (fixed after failures, the retries
    reach the new one) and is signed with their current secret; no URL: nowhere to send."""
    if item.channel != webhooks.CHANNEL:
        return item
    row = connection.execute(
        select(Installer.webhook_url, Installer.webhook_secret).where(
            Installer.id == item.installer_id
        )
    ).first()
    url, secret = (row.webhook_url, row.webhook_secret) if row is not None else (None, None)
    return replace(item, to=url or item.to, secret=secret if url else None)


def _transmit(item: Claimed, settings: Settings, now: datetime) -> None:
    if item.channel == webhooks.CHANNEL:
        webhooks.post(
            item.to if item.secret else None,
            item.secret,
            item.raw,
            delivery_id=item.message_key,
            at=now,
            timeout=settings.webhook_delivery_timeout_seconds,
            allow_local=settings.webhook_allow_local,
        )
        return
    return_path = verp_address(settings, item.id)  # signed once: the envelope and the header
    thread_transport(settings.outbound).send(
        return_path,
        [item.to],
        wire_bytes(settings, item.id, item.raw, return_path=return_path),
        item.message_key,
    )


def _send_one(item: Claimed, settings: Settings, now: datetime) -> tuple[DeliveryResult, dict]:
    started = time.monotonic()
    error: Exception | None = None
    try:
        _transmit(item, settings, now)
    except (TemporaryFailure, PermanentFailure) as exc:
        error = exc
    except Exception as exc:  # an unexpected failure is treated as temporary
        log.exception("sending outbox message %s failed", item.id)
        error = TemporaryFailure(f"{type(exc).__name__}: {exc}")
    observe_send(
        time.monotonic() - started,
        "sent"
        if error is None
        else "permanent"
        if isinstance(error, PermanentFailure)
        else "temporary",
    )
    # A webhook row shows the URL its last attempt went to.
    where = {"to": item.to} if item.channel == webhooks.CHANNEL else {}
    if error is None:
        return DeliveryResult(OutboxState.SENT), {
            "state": OutboxState.SENT,
            "sent_at": now,
            "last_error": None,
            "next_attempt_at": None,
            **where,
        }
    if isinstance(error, PermanentFailure) or item.attempts >= MAX_ATTEMPTS:
        return DeliveryResult(OutboxState.FAILED), {
            "state": OutboxState.FAILED,
            "next_attempt_at": None,
            "last_error": str(error)[:2000],
            **where,
        }
    delay = backoff(item.attempts)
    return DeliveryResult(OutboxState.QUEUED, retry_in=delay), {
        "state": OutboxState.QUEUED,
        "next_attempt_at": now + delay,
        "last_error": str(error)[:2000],
        **where,
    }


class RecentlySent:
    """Rows this process has just sent, by database: a batch sends up to ``SEND_BATCH`` rows
    over one connection, and each of those rows' own job then finds it here instead of asking
    the database (#21). Only sent rows: they never go back to the queue (an admin's retry acts
    on failed or cancelled rows), so skipping them is always right."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._order: deque[tuple[str, int]] = deque()
        self._ids: set[tuple[str, int]] = set()

    def add(self, database: str, ids: list[int]) -> None:
        with self._lock:
            for outbox_id in ids:
                key = (database, outbox_id)
                if key not in self._ids:
                    self._ids.add(key)
                    self._order.append(key)
            while len(self._order) > self.size:
                self._ids.discard(self._order.popleft())

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._ids


RECENTLY_SENT = RecentlySent()


# Built once (#21).
_STATE_OF = select(OutboxMessage.state, OutboxMessage.channel).where(
    OutboxMessage.id == bindparam("id")
)
_MARK_SENT = (
    update(OutboxMessage)
    .where(
        OutboxMessage.id.in_(bindparam("ids", expanding=True)),
        OutboxMessage.state == OutboxState.SENDING,
    )
    .values(state=OutboxState.SENT, sent_at=bindparam("at"), last_error=None, next_attempt_at=None)
    .returning(OutboxMessage.id)
)


def deliver(outbox_id: int, *, settings: Settings, now: datetime, batch: int = 1) -> DeliveryResult:
    """Send one outbox row (and, with ``batch`` > 1, other due rows over the same connection).
    Safe to call any number of times for the same row. Returns the result for ``outbox_id``."""
    # Core connections, not ORM sessions: this is the hot path of every email.
    engine = get_engine(settings)
    database = str(engine.url)
    if (database, outbox_id) in RECENTLY_SENT:
        return DeliveryResult(None)  # sent by this process, in an earlier call's batch
    if engine.dialect.name == "postgresql":
        # One transaction: the claim reads the row's state and channel itself (#21).
        with engine.begin() as connection:
            claimed = claim(connection, outbox_id, now, batch, channel=None)
    else:
        # SQLite: a row not queued is seen without taking the one writer's lock.
        with engine.connect() as connection:
            found = connection.execute(_STATE_OF, {"id": outbox_id}).first()
        if found is None or found.state != OutboxState.QUEUED:
            return DeliveryResult(None)  # sent, failed, or in another worker's hands
        with engine.begin() as connection:
            claimed = claim(connection, outbox_id, now, batch, found.channel)
    outcomes = [(item, *_send_one(item, settings, now)) for item in claimed]
    with engine.begin() as connection:
        # Sent mail in one statement; the other rows (and webhooks, whose URL is recorded) one
        # by one.
        bulk = {
            item.id
            for item, result, _ in outcomes
            if result.state == OutboxState.SENT and item.channel != webhooks.CHANNEL
        }
        # Only the rows still in this claim's hands are marked sent (and remembered): a row the
        # sweep gave back to the queue meanwhile (its lease ran out) is sent again by its job.
        sent = (
            list(connection.scalars(_MARK_SENT, {"ids": sorted(bulk), "at": now})) if bulk else []
        )
        for item, _result, values in outcomes:
            if item.id not in bulk:
                connection.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == item.id, OutboxMessage.state == OutboxState.SENDING)
                    .values(**values)
                )
    RECENTLY_SENT.add(database, sent)  # committed: they are sent for good
    for item, result, _ in outcomes:
        if item.id == outbox_id:
            return result
    return DeliveryResult(None)


def retry(session: Session, outbox_id: int, now: datetime) -> bool:
    """Admin action: a failed (or cancelled) message goes back to the queue."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.state not in (OutboxState.FAILED, OutboxState.CANCELLED):
        return False
    row.state, row.next_attempt_at, row.attempts = OutboxState.QUEUED, now, 0
    enqueue_on_commit(session, "send_email", row.id)
    return True


def cancel(session: Session, outbox_id: int) -> bool:
    """Admin action: a queued or failed message will not be sent."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.state.in_([OutboxState.QUEUED, OutboxState.FAILED]),
        )
        .values(state=OutboxState.CANCELLED, next_attempt_at=None)
    )
    return result.rowcount == 1


# A queued row due for longer than this has lost its broker message (or the broker is down).
LOST_JOB_GRACE = timedelta(seconds=60)


def sweep_outbox(settings: Settings, at: datetime, *, batch: int = 500) -> int:
    """Release rows held by dead workers; send what is due and whose job may be lost."""
    with session_scope(settings) as session:
        stuck = list(
            session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.state == OutboxState.SENDING,
                    OutboxMessage.claimed_at < at - SENDING_LEASE,
                )
                .values(
                    state=OutboxState.QUEUED,
                    next_attempt_at=None,
                    last_error="interrupted while sending; retried",
                )
                .returning(OutboxMessage.id)
            )
        )
        lost = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.state == OutboxState.QUEUED,
                    or_(
                        and_(
                            OutboxMessage.next_attempt_at.is_(None),
                            OutboxMessage.created_at <= at - LOST_JOB_GRACE,
                        ),
                        OutboxMessage.next_attempt_at <= at - LOST_JOB_GRACE,
                    ),
                )
                .order_by(OutboxMessage.id)
                .limit(batch)
            )
        )
    due = sorted(set(stuck) | set(lost))
    for outbox_id in due:
        try:
            send_now("send_email", outbox_id)
        except Exception:
            log.warning("broker unavailable; sending outbox %s from the sweep", outbox_id)
            deliver(outbox_id, settings=settings, now=at)
    return len(due)
