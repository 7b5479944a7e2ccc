"""What the mail-queue monitor shows, read from the database (and the broker)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.infra.enqueue import queue_stats
from mailflow.models import (
    InboundMessage,
    InboundOutcome,
    OutboxMessage,
    OutboxState,
    ServiceStatus,
)

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(minutes=10)
# States whose oldest message says something about health (a sent message is just history).
AGED_STATES = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.FAILED)


@dataclass
class StateCount:
    state: str
    count: int
    oldest: datetime | None


@dataclass
class OutboxSummary:
    states: list[StateCount]
    oldest_queued: datetime | None
    queued_waiting_retry: int
    sent_in_window: int
    window_minutes: int

    @property
    def per_minute(self) -> float:
        return self.sent_in_window / self.window_minutes

    def count(self, state: str) -> int:
        return next((s.count for s in self.states if s.state == state), 0)


def outbox_summary(session: Session, at: datetime) -> OutboxSummary:
    found = {
        state: (count, oldest)
        for state, count, oldest in session.execute(
            select(OutboxMessage.state, func.count(), func.min(OutboxMessage.created_at)).group_by(
                OutboxMessage.state
            )
        )
    }
    states = [
        StateCount(
            state.value,
            found.get(state, (0, None))[0],
            found.get(state, (0, None))[1] if state in AGED_STATES else None,
        )
        for state in OutboxState
    ]
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.state == OutboxState.QUEUED,
                OutboxMessage.next_attempt_at > at,
                OutboxMessage.attempts > 0,
            )
        )
        or 0
    )
    sent = (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.state == OutboxState.SENT,
                OutboxMessage.sent_at > at - RATE_WINDOW,
                OutboxMessage.sent_at <= at,
            )
        )
        or 0
    )
    return OutboxSummary(
        states,
        found.get(OutboxState.QUEUED, (0, None))[1],
        waiting,
        sent,
        int(RATE_WINDOW.total_seconds() // 60),
    )


def outbox_rows(
    session: Session,
    *,
    state: str | None = None,
    before: int | None = None,
    limit: int = 50,
    channel: str | None = None,
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state:
        query = query.where(OutboxMessage.state == OutboxState(state))
    if channel:
        query = query.where(OutboxMessage.channel == channel)
    if before:
        query = query.where(OutboxMessage.id < before)
    return list(session.scalars(query))


@dataclass
class InboundSummary:
    outcomes: list[tuple[str, int]]
    oldest_pending: datetime | None
    total: int = field(init=False)

    def __post_init__(self) -> None:
        self.total = sum(count for _, count in self.outcomes)


def inbound_summary(session: Session) -> InboundSummary:
    found = dict(
        session.execute(
            select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome)
        ).all()
    )
    oldest_pending = session.scalar(
        select(func.min(InboundMessage.received_at)).where(
            InboundMessage.outcome == InboundOutcome.PENDING
        )
    )
    return InboundSummary([(o.value, found.get(o, 0)) for o in InboundOutcome], oldest_pending)


def inbound_rows(
    session: Session, *, outcome: str | None = None, before: int | None = None, limit: int = 50
) -> list[InboundMessage]:
    # Only the columns the list shows: the raw message can be megabytes.
    query = (
        select(
            InboundMessage.id,
            InboundMessage.channel,
            InboundMessage.received_at,
            InboundMessage.outcome,
            InboundMessage.reason,
            InboundMessage.message_id,
            InboundMessage.envelope_from,
            InboundMessage.size,
            InboundMessage.lead_id,
        )
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    if outcome:
        query = query.where(InboundMessage.outcome == InboundOutcome(outcome))
    if before:
        query = query.where(InboundMessage.id < before)
    return list(session.execute(query))


@dataclass
class ImapHealth:
    configured: bool
    reported: bool
    connected: bool | None = None
    last_successful_poll: Any = None
    last_error: Any = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_SECRET_HINTS = ("pass", "secret", "token", "url", "auth")


def imap_health(session: Session, configured: bool) -> ImapHealth:
    row = session.get(ServiceStatus, "imap")
    if row is None:
        return ImapHealth(configured=configured, reported=False)
    data = dict(row.data or {})
    known = {"connected", "last_successful_poll", "last_error"}
    extra = {
        k: v
        for k, v in data.items()
        if k not in known and not any(h in k.lower() for h in _SECRET_HINTS)
    }
    return ImapHealth(
        configured=True,
        reported=True,
        connected=data.get("connected"),
        last_successful_poll=data.get("last_successful_poll"),
        last_error=data.get("last_error"),
        updated_at=row.updated_at,
        extra=extra,
    )


def broker_queues() -> tuple[list[dict], str | None]:
    """Dramatiq queue depths, or the reason they cannot be read (broker down). Every queue
    is declared, even before its first job (``mailflow.jobs.broker.setup``)."""
    try:
        return queue_stats(), None
    except Exception as exc:
        log.warning("could not read the broker's queues", exc_info=True)
        return [], f"{type(exc).__name__}: {exc}"[:300]
