"""Routing decisions (#20): who got a lead's offer, and why each other candidate did not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


class RoutingDecision(Base):
    """One routing decision: the offer it made and every candidate's verdict (at most
    ``mailflow.domain.routing_why.KEEP`` stored, the rest counted per reason)."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("offers.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=now)
    installer_id: Mapped[int | None] = mapped_column(
        ForeignKey("installers.id", ondelete="SET NULL")
    )
    # offered, second_chance or escalated; the chosen installer's reason code.
    kind: Mapped[str] = mapped_column(String(16), default="offered")
    reason: Mapped[str | None] = mapped_column(String(32))
    # [{installer_id, outcome, reason, facts}], and {reason: count} of those not stored.
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_routing_decisions_at", "at"),)
