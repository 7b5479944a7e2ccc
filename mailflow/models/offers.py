"""Offers: a lead offered to one installer until a deadline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailflow.clock import now
from mailflow.domain.statuses import OfferStatus
from mailflow.models.base import Base, enum_type
from mailflow.models.installers import Installer
from mailflow.models.leads import Lead


class Offer(Base):
    """A lead offered to one installer until a deadline."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id"), index=True)
    status: Mapped[OfferStatus] = mapped_column(enum_type(OfferStatus), default=OfferStatus.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(default=now)
    deadline: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(64))
    decline_note: Mapped[str | None] = mapped_column(Text)
    routing_reason: Mapped[str | None] = mapped_column(Text)
    # A decline for "spam" counts against the installer's score only once an admin confirmed
    # that the lead was real (a flood of fake leads must not cost anyone their tier).
    decline_confirmed_at: Mapped[datetime | None]
    # Second chance: the installer of this expired offer asked to be put back in line; routing
    # may offer them the lead once more after the installers of the current cycle.
    requeued_at: Mapped[datetime | None]
    # A bad-lead report of this accepted offer was approved (#20): the offer no longer counts
    # against the installer's caps or score (mailflow/leads/returns.py).
    returned_at: Mapped[datetime | None]

    lead: Mapped[Lead] = relationship()
    installer: Mapped[Installer] = relationship()

    # The sweep's query (open offers by deadline) and routing's figures (an installer's offers
    # of the last 30 days) are index range scans, however much history accumulates.
    __table_args__ = (
        Index("ix_offers_status_deadline", "status", "deadline"),
        Index("ix_offers_installer_offered_at", "installer_id", "offered_at"),
    )


# Behind the admin console's figures and sorted lists: index ranges, never table scans.
Index("ix_offers_status_answered", Offer.status, Offer.answered_at)
Index("ix_offers_status_offered", Offer.status, Offer.offered_at)
