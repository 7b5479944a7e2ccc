"""Bad-lead reports ("returns", #20): an installer reports a lead they accepted; an admin (or
a rule) approves or rejects it (mailflow/domain/returns.py has the rules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailflow.clock import now
from mailflow.models.base import Base
from mailflow.models.installers import Installer
from mailflow.models.leads import Lead
from mailflow.models.offers import Offer


class LeadReturn(Base):
    """One report of a bad lead by the installer who accepted it."""

    __tablename__ = "lead_returns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id"))
    # The accepted offer the report is about (its ``returned_at`` is set on approval).
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int | None] = mapped_column(Integer)
    # The installer's words about the customer: personal data (erased with the customer).
    note: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(16), default="dashboard")
    # pending, approved or rejected (a decision, not a lead status: no state machine).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reported_at: Mapped[datetime] = mapped_column(default=now)
    decided_at: Mapped[datetime | None]
    # An admin's address, or "rule" when an automatic rule decided.
    decided_by: Mapped[str | None] = mapped_column(String(320))
    rule: Mapped[str | None] = mapped_column(String(32))
    # Where the approved report sent the lead: "rotation" or "closed".
    outcome: Mapped[str | None] = mapped_column(String(16))

    lead: Mapped[Lead] = relationship()
    installer: Mapped[Installer] = relationship()
    offer: Mapped[Offer | None] = relationship()

    __table_args__ = (
        Index("ix_lead_returns_installer_reported", "installer_id", "reported_at"),
        Index("ix_lead_returns_state_reported", "state", "reported_at"),
    )
