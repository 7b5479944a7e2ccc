"""Samples of what keeps no history: leads in the pool (and listed in the exchange), leads
waiting for a free slot, outgoing mail not sent yet, and jobs in the broker's queues.

``record_sample`` is a sweep (``mailflow.schedule.SWEEPS``): at most one sample per
MAILFLOW_REPORT_SAMPLE_MINUTES, stored under the start of its interval (the primary key, so a
second scheduler or a second sweep in the same interval records nothing); samples older than
MAILFLOW_REPORT_SAMPLE_DAYS are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.statuses import LeadStatus
from mailflow.infra.enqueue import queue_stats
from mailflow.models import Lead, OutboxMessage, OutboxState, ReportSample

log = logging.getLogger(__name__)


@dataclass
class SampleSeries:
    at: list[datetime] = field(default_factory=list)
    pool: list[int] = field(default_factory=list)
    exchange: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)
    queue: list[int | None] = field(default_factory=list)


def interval_start(at: datetime, minutes: int) -> datetime:
    at = at.astimezone(UTC)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((at - midnight).total_seconds() // 60)
    return midnight + timedelta(minutes=elapsed - elapsed % minutes)


def broker_depth() -> int | None:
    """Messages ready or delayed over every queue; None when the broker cannot be read."""
    try:
        return sum(int(q.get("ready", 0)) + int(q.get("delayed", 0)) for q in queue_stats())
    except Exception as exc:
        log.info("report sample without queue depth (%s)", type(exc).__name__)
        return None


def measure(session: Session, at: datetime) -> ReportSample:
    def count(*conds) -> int:
        return session.scalar(select(func.count()).select_from(Lead).where(*conds)) or 0

    outbox = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state.in_([OutboxState.QUEUED, OutboxState.SENDING]))
    )
    return ReportSample(
        at=at,
        pool=count(Lead.status == LeadStatus.POOL),
        exchange=count(Lead.status == LeadStatus.POOL, Lead.exchange_since.is_not(None)),
        waiting=count(Lead.waiting_since.is_not(None)),
        outbox=outbox or 0,
        queue=broker_depth(),
    )


def record_sample(settings: Settings, at: datetime) -> int:
    """The sweep: one sample for the interval ``at`` falls in (1 if recorded now, else 0)."""
    start = interval_start(at, settings.report_sample_minutes)
    try:
        with session_scope(settings) as session:
            if session.get(ReportSample, start) is not None:
                return 0
            session.add(measure(session, start))
            session.execute(
                delete(ReportSample).where(
                    ReportSample.at < start - timedelta(days=settings.report_sample_days)
                )
            )
    except IntegrityError:  # another scheduler recorded this interval first
        return 0
    return 1


def sample_series(session: Session, f) -> SampleSeries:
    """The samples within the report's range, oldest first."""
    series = SampleSeries()
    query = (
        select(ReportSample)
        .where(ReportSample.at >= f.start_at, ReportSample.at < f.end_at)
        .order_by(ReportSample.at)
    )
    for row in session.scalars(query):
        series.at.append(row.at)
        series.pool.append(row.pool)
        series.exchange.append(row.exchange)
        series.waiting.append(row.waiting)
        series.outbox.append(row.outbox)
        series.queue.append(row.queue)
    return series
