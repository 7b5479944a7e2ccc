"""Outgoing mail: the outbox, and the verified bounces of what it sent."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base, enum_type


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


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
    state: Mapped[OutboxState] = mapped_column(enum_type(OutboxState), default=OutboxState.QUEUED)
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
    # "email", or "webhook": a signed JSON POST to an installer's own tools (``to`` is the URL,
    # ``raw`` the body, ``message_id`` the delivery id sent as Idempotency-Key; the signing
    # secret is read from the installer at each attempt and never stored here). The same
    # sender claims, retries and gives up on both (mailflow/outbound/outbox.py).
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        # A send job's batch: the queued rows from its own on, in id order (outbound.outbox).
        Index("ix_outbox_state_id", "state", "id"),
    )


# Behind the admin console's outbox list, newest first: an index range, never a table scan.
Index("ix_outbox_created_at", OutboxMessage.created_at)


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
