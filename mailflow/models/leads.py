"""Leads, their timeline, the admins' notes and files, and the search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailflow.clock import now
from mailflow.domain.statuses import Actor, LeadStatus
from mailflow.models.base import Base, enum_type
from mailflow.models.installers import Installer


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[LeadStatus] = mapped_column(
        enum_type(LeadStatus), default=LeadStatus.NEW, index=True
    )
    source: Mapped[str] = mapped_column(String(32), index=True)
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    product: Mapped[str | None] = mapped_column(String(32))
    building_type: Mapped[str | None] = mapped_column(String(32))
    grid_connection: Mapped[str | None] = mapped_column(String(32))

    customer_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    street: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str] = mapped_column(String(16), index=True)
    city: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    reachability: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # What the installer recorded: quote, installation date, follow-up, failure reason.
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    accepted_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime | None]
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    assigned_installer_id: Mapped[int | None] = mapped_column(
        ForeignKey("installers.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    # Set while the lead waits for a free slot (every eligible installer is busy or at a cap):
    # it is offered, oldest first, as soon as one answers (mailflow/routing/offers.py).
    waiting_since: Mapped[datetime | None]
    # Short offer windows (#20): the lead arrived while its installer was out of hours and is
    # held until a durable "offer_release" timer routes it at the start of their working
    # hours (the drain leaves it alone meanwhile).
    held_until: Mapped[datetime | None]
    # When the holder first recorded contact (or revealed the details, with no status yet):
    # time to first contact is the speed-to-lead figure (mailflow/domain/speed.py).
    first_contact_at: Mapped[datetime | None]
    # Admin console: hidden from the default lists (archived; spam is archived too), personal
    # fields anonymised on the customer's request (erased), and the version of the search
    # terms indexed for the lead (NULL: not indexed yet; see mailflow/leads/search.py).
    archived_at: Mapped[datetime | None]
    spam: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None]
    search_version: Mapped[int | None] = mapped_column(Integer)
    # The open lead exchange (Q CELLS "bourse aux leads"): set while a pool lead is listed for
    # every eligible installer to claim (cleared by any move out of the pool), with why it is
    # there: "rotation" (nobody took it), "admin" (opened by an admin), "claim_lapsed".
    exchange_since: Mapped[datetime | None]
    exchange_reason: Mapped[str | None] = mapped_column(String(32))
    # Whose claim lapsed: the lead is listed for the others (Q CELLS: "visible for the other
    # partners"), so nobody holds a lead by claiming it again every two days.
    exchange_lapsed_installer_id: Mapped[int | None] = mapped_column(Integer)

    events: Mapped[list[LeadEvent]] = relationship(
        back_populates="lead", order_by="LeadEvent.id", cascade="all, delete-orphan"
    )
    assigned_installer: Mapped[Installer | None] = relationship(
        foreign_keys=[assigned_installer_id]
    )
    duplicate_of: Mapped[Lead | None] = relationship(remote_side=[id])


class LeadEvent(Base):
    """The lead's timeline: what happened, who did it, when."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=now)
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[Actor] = mapped_column(enum_type(Actor), default=Actor.SYSTEM)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    lead: Mapped[Lead] = relationship(back_populates="events")


# A lead an installer holds and still works on: counts against their capacity.
HELD_STATUSES = frozenset(
    {
        LeadStatus.ACCEPTED,
        LeadStatus.CONTACT_ATTEMPTED,
        LeadStatus.FIRST_CONTACT,
        LeadStatus.QUOTE_SENT,
        LeadStatus.ORDER_PLACED,
        LeadStatus.INSTALLATION_SCHEDULED,
        LeadStatus.FOLLOW_UP,
    }
)


class LeadNote(Base):
    """An internal note on a lead: admins only, never shown to installers or customers."""

    __tablename__ = "lead_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)


class LeadDocument(Base):
    """A file attached to a lead; the bytes live under ``<data dir>/documents/<lead id>/``."""

    __tablename__ = "lead_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=now)
    uploaded_by: Mapped[str] = mapped_column(String(320))


class LeadSearchTerm(Base):
    """Words of a lead's name, email, phone and city (folded), for prefix search by index."""

    __tablename__ = "lead_search_terms"

    # Byte order on PostgreSQL too (collation "C"): a prefix is a range of the index.
    term: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql"), primary_key=True
    )
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# Indexes behind the admin console's sorted, filtered lists (kanban columns, sortable table,
# pipeline figures, retention sweep): each list page is an index range, never a table scan.
# Partial indexes hold only the few rows a filter looks for (archived leads, leads whose search
# terms are not indexed yet), so a planner never mistakes "IS NULL" for a selective condition.
Index("ix_leads_status_created", Lead.status, Lead.created_at, Lead.id)
Index("ix_leads_updated_at", Lead.updated_at, Lead.id)
Index("ix_leads_customer_name", Lead.customer_name, Lead.id)
Index("ix_leads_city", Lead.city, Lead.id)
Index("ix_leads_duplicate_of_id", Lead.duplicate_of_id)
Index("ix_leads_installer_status", Lead.assigned_installer_id, Lead.status)
Index(
    "ix_leads_archived",
    Lead.archived_at,
    sqlite_where=Lead.archived_at.is_not(None),
    postgresql_where=Lead.archived_at.is_not(None),
)
Index(
    "ix_leads_exchange",
    Lead.exchange_since,
    sqlite_where=Lead.exchange_since.is_not(None),
    postgresql_where=Lead.exchange_since.is_not(None),
)
Index(
    "ix_leads_search_pending",
    Lead.id,
    sqlite_where=Lead.search_version.is_(None),
    postgresql_where=Lead.search_version.is_(None),
)
