"""Samples behind the reports' "over time" charts: what has no history of its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.models.base import Base


class ReportSample(Base):
    """The pool, the waiting line, the outbox and the job queues at one instant, recorded by
    the scheduler's sweep every MAILFLOW_REPORT_SAMPLE_MINUTES (``at`` is the start of the
    interval, unique: a second scheduler records nothing twice). A lead's pool stay and a job's
    wait leave no timestamps to rebuild these from, so they are sampled."""

    __tablename__ = "report_samples"

    at: Mapped[datetime] = mapped_column(primary_key=True)
    pool: Mapped[int] = mapped_column(Integer, default=0)  # leads in status "pool"
    exchange: Mapped[int] = mapped_column(Integer, default=0)  # pool leads listed in the exchange
    waiting: Mapped[int] = mapped_column(Integer, default=0)  # leads waiting for a free slot
    outbox: Mapped[int] = mapped_column(Integer, default=0)  # outbox rows queued or sending
    # Dramatiq messages ready or delayed over every queue; None when the broker was unreadable.
    queue: Mapped[int | None] = mapped_column(Integer)
