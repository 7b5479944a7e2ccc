"""The database half of signed links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


class LinkNonce(Base):
    """The database half of a signed link: a random nonce, marked used when a one-time link
    acts (Mailman's Pendings, Warehouse's TokenService)."""

    __tablename__ = "link_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    installer_id: Mapped[int | None] = mapped_column(ForeignKey("installers.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
