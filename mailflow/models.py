"""Database models shared by the features. Each feature package owns its rules; the tables live
here so that Alembic sees one metadata."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mailflow.clock import as_utc, now
from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus  # noqa: F401  (re-exported)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always returns aware UTC datetimes (SQLite has no
    time zones; PostgreSQL gets timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native enum types): adding a status is not a migration fight.
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Channel(enum.StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    WEBHOOK = "webhook"
    IMPORT = "import"


class InboundOutcome(enum.StrEnum):
    PENDING = "pending"
    LEAD = "lead"
    DUPLICATE = "duplicate"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    REPLY = "reply"
    QUARANTINED = "quarantined"


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


class InboundMessage(Base):
    """Every raw inbound message or webhook body, as it arrived, with its outcome."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    # Message-ID, "sha256:<hex>" of the raw bytes when there is none, or "idem:<key>" for
    # webhooks: the same key is the same message, whichever channel brings it again.
    dedup_key: Mapped[str] = mapped_column(String(512), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    envelope_from: Mapped[str | None] = mapped_column(String(512))
    envelope_to: Mapped[str | None] = mapped_column(Text)
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    imap_uid: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Large messages on SQLite live in a file under the data directory (see inbound/blobs.py).
    raw_path: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=now, index=True)
    outcome: Mapped[InboundOutcome] = mapped_column(
        _enum(InboundOutcome), default=InboundOutcome.PENDING, index=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # No foreign key: leads also point back here (inbound_id), and a cycle would complicate
    # migrations for no gain.
    lead_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # What the parser found (bounce recipient and status, auto-reply hints...), for admins.
    parsed: Mapped[dict[str, Any] | None]

    __table_args__ = (
        Index("ix_inbound_imap_uid", "imap_uidvalidity", "imap_uid"),
        # The intake limit counts a sender's recent leads (mailflow/leads/intake_limit.py).
        Index("ix_inbound_sender_received", "envelope_from", "received_at"),
    )


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[LeadStatus] = mapped_column(
        _enum(LeadStatus), default=LeadStatus.NEW, index=True
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
    # Admin console: hidden from the default lists (archived; spam is archived too), personal
    # fields anonymised on the customer's request (erased), and the version of the search
    # terms indexed for the lead (NULL: not indexed yet; see mailflow/leads/search.py).
    archived_at: Mapped[datetime | None]
    spam: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None]
    search_version: Mapped[int | None] = mapped_column(Integer)

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
    actor: Mapped[Actor] = mapped_column(_enum(Actor), default=Actor.SYSTEM)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    lead: Mapped[Lead] = relationship(back_populates="events")


class Installer(Base):
    __tablename__ = "installers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="en")
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Service areas: postcode prefixes of the installer's country, space-separated.
    postcodes: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[str] = mapped_column(String(16), default="bronze")
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    vacation_from: Mapped[datetime | None]
    vacation_until: Mapped[datetime | None]
    rating: Mapped[float | None]
    # Set when repeated hard bounces of our own mail disabled the address (offers skip it);
    # an admin clears it (mailflow/inbound/bounces.py). Only bounces after the last clearing
    # count towards the next flag.
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    bounce_cleared_at: Mapped[datetime | None]
    # Last sign-in or link action: 8 weeks without either deactivates the account.
    last_action_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    # An admin's deactivation is not the 8-week silence rule: only an admin undoes it.
    deactivated_by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    last_digest_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(32))
    # Score and tier (customer ratings and diligence): see mailflow/ratings/score.py.
    score: Mapped[float | None]
    score_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tier_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    tier_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)

    @property
    def postcode_prefixes(self) -> list[str]:
        return self.postcodes.split()


class WebhookKey(Base):
    """Idempotency keys of ``POST /api/leads``: a replay answers with the first result."""

    __tablename__ = "webhook_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)


class WebhookSignature(Base):
    """Signatures of accepted ``POST /api/leads`` requests, kept until their timestamp leaves
    the allowed window: a verbatim replay (even with another Idempotency-Key, which is not
    signed) answers with the first lead instead of making a second one."""

    __tablename__ = "webhook_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex HMAC-SHA256
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OutboxMessage(Base):
    """An email to send, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to: Mapped[str] = mapped_column(String(320), index=True)
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Rendered when queued, so what is sent (and previewed) is exactly what the change meant.
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attachments: Mapped[list[Any] | None] = mapped_column(JSON)
    # The MIME message as it goes on the wire, built once when queued.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    installer_id: Mapped[int | None] = mapped_column(ForeignKey("installers.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    next_attempt_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # The recipient's out-of-office (or other auto-reply) to this message, if any.
    auto_reply_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)


class BounceEvent(Base):
    """A verified bounce (signed VERP, matching recipient) of one of our messages to an
    installer: the history admins see, and what the hard-bounce rule counts. Bounces of mail to
    customers only mark that outbox row and the lead's timeline."""

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id", ondelete="CASCADE"))
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str | None] = mapped_column(String(16))
    permanent: Mapped[bool] = mapped_column(Boolean)
    diagnostic: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_bounce_events_installer_at", "installer_id", "at"),)


class Offer(Base):
    """A lead offered to one installer until a deadline."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id"), index=True)
    status: Mapped[OfferStatus] = mapped_column(_enum(OfferStatus), default=OfferStatus.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(default=now)
    deadline: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(64))
    decline_note: Mapped[str | None] = mapped_column(Text)
    routing_reason: Mapped[str | None] = mapped_column(Text)
    # A decline for "spam" counts against the installer's score only once an admin confirmed
    # that the lead was real (a flood of fake leads must not cost anyone their tier).
    decline_confirmed_at: Mapped[datetime | None]

    lead: Mapped[Lead] = relationship()
    installer: Mapped[Installer] = relationship()

    # The sweep's query (open offers by deadline) and routing's figures (an installer's offers
    # of the last 30 days) are index range scans, however much history accumulates.
    __table_args__ = (
        Index("ix_offers_status_deadline", "status", "deadline"),
        Index("ix_offers_installer_offered_at", "installer_id", "offered_at"),
    )


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
    status: Mapped[TimerStatus] = mapped_column(_enum(TimerStatus), default=TimerStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=now)
    done_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_timers_status_due", "status", "due_at"),)


class SiteVisit(Base):
    """An appointment at the customer's (the dealer CRM's appointment, solarVis's site visit)."""

    __tablename__ = "site_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    installer_id: Mapped[int] = mapped_column(ForeignKey("installers.id"))
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    address: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class InstallerSession(Base):
    """A signed-in installer's session (cookie holds the random id, signed)."""

    __tablename__ = "installer_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    installer_id: Mapped[int] = mapped_column(
        ForeignKey("installers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    csrf_token: Mapped[str] = mapped_column(String(64))


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


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")  # admin | viewer
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_login_at: Mapped[datetime | None]


class AdminSession(Base):
    """A signed-in admin's session, on the server: the cookie holds only its random id, so
    signing out (or the idle timeout) ends it even for a copied cookie."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_user_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # A password change ends every session started with the old password.
    password_fingerprint: Mapped[str] = mapped_column(String(64))


class LoginThrottle(Base):
    """Sign-in attempts per key (account and client address, client address alone) in the
    current window. Counted by a conditional update before the password is checked, so
    parallel guesses cannot get past the limit; shared by every web process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of what it counts
    window_start: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ServiceStatus(Base):
    """Health reported by long-running parts (IMAP poller, scheduler) for the admin pages;
    kept in the database because those parts may run in other processes."""

    __tablename__ = "service_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=now)


__all__ = [
    "AdminUser",
    "BounceEvent",
    "Survey",
    "TierChange",
    "InstallerSession",
    "SiteVisit",
    "Timer",
    "TimerStatus",
    "LinkNonce",
    "Offer",
    "OfferStatus",
    "ServiceStatus",
    "Actor",
    "Base",
    "Channel",
    "InboundMessage",
    "InboundOutcome",
    "Installer",
    "Lead",
    "LeadEvent",
    "LeadStatus",
    "OutboxMessage",
    "OutboxState",
    "UniqueConstraint",
    "WebhookKey",
]

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


# ------------------------------------------------------------------ admin console ----------
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


class AuditEntry(Base):
    """What an admin did (web pages or CLI): who, when, what, on which object."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)


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
    "ix_leads_search_pending",
    Lead.id,
    sqlite_where=Lead.search_version.is_(None),
    postgresql_where=Lead.search_version.is_(None),
)
Index("ix_offers_status_answered", Offer.status, Offer.answered_at)
Index("ix_offers_status_offered", Offer.status, Offer.offered_at)
Index("ix_outbox_created_at", OutboxMessage.created_at)
