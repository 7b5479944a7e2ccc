"""Customer surveys and the history of installers' tiers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


class Survey(Base):
    """The customer's rating of the installer after installation (one per lead)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), unique=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None] = mapped_column(index=True)
    service: Mapped[int | None] = mapped_column(Integer)
    installation: Mapped[int | None] = mapped_column(Integer)
    communication: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)

    @property
    def average(self) -> float | None:
        marks = [m for m in (self.service, self.installation, self.communication) if m]
        return sum(marks) / len(marks) if marks else None


class TierChange(Base):
    """Every change of an installer's tier, with the score and why."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installer_id: Mapped[int] = mapped_column(
        ForeignKey("installers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=now)
    old_tier: Mapped[str] = mapped_column(String(16))
    new_tier: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None]
    by: Mapped[str] = mapped_column(String(64), default="system")  # system | admin email
    reason: Mapped[str | None] = mapped_column(Text)
