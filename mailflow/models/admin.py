"""The admin console: accounts, sessions, sign-in throttle, audit log, and the health of the long-running parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")  # admin | viewer
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_login_at: Mapped[datetime | None]
    # The console's language for this admin (en, fr, de), chosen on /admin/preferences.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")


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


class ServiceStatus(Base):
    """Health reported by long-running parts (IMAP poller, scheduler) for the admin pages;
    kept in the database because those parts may run in other processes."""

    __tablename__ = "service_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class AdminAlert(Base):
    """Something the admins must hear of (a lead in the pool, …), batched into one digest per
    admin per MAILFLOW_ADMIN_DIGEST_MINUTES by the scheduler's sweep; ``sent_at`` is set in the
    transaction that queues the digest, so each alert is sent once."""

    __tablename__ = "admin_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_admin_alerts_sent_at", "sent_at", "created_at"),)
