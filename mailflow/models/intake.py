"""Intake: every inbound message as it arrived, and the webhook's replay guards."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base, enum_type


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


class InboundMessage(Base):
    """Every raw inbound message or webhook body, as it arrived, with its outcome."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
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
    # Large messages on SQLite live in a file under the data directory (see infra/blobs.py).
    raw_path: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=now, index=True)
    outcome: Mapped[InboundOutcome] = mapped_column(
        enum_type(InboundOutcome), default=InboundOutcome.PENDING, index=True
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
