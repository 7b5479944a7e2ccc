"""Durable timers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base, enum_type


class TimerStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class Timer(Base):
    """A durable timer: something to do for a lead at an instant (reminders, lapses, surveys).
    The scheduler sweep claims due rows (one winner, even with several schedulers) and acts."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    installer_id: Mapped[int | None] = mapped_column(ForeignKey("installers.id"))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime]
    status: Mapped[TimerStatus] = mapped_column(enum_type(TimerStatus), default=TimerStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=now)
    done_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_timers_status_due", "status", "due_at"),)
