"""Installers and their dashboard sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


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
    # Leads (offers made) per day, week and month in the installer's time zone; None = no cap.
    # A monthly cap is also paced (MAILFLOW_PACING_DAY_PERCENT, _WEEK_PERCENT).
    cap_day: Mapped[int | None] = mapped_column(Integer)
    cap_week: Mapped[int | None] = mapped_column(Integer)
    cap_month: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    vacation_from: Mapped[datetime | None]
    vacation_until: Mapped[datetime | None]
    rating: Mapped[float | None]
    # Set when repeated hard bounces of our own mail disabled the address (offers skip it);
    # an admin clears it (mailflow/intake/bounces.py). Only bounces after the last clearing
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
    # The daily email of leads available in the exchange (opt-out, like the digest).
    exchange_mail_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    last_exchange_mail_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(32))
    # Weekly working hours in their time zone, e.g. "mon-fri 08:00-18:00" (None = the
    # MAILFLOW_WORKING_HOURS default): short offer windows count these minutes (#20).
    working_hours: Mapped[str | None] = mapped_column(String(64))
    # Score and tier (customer ratings and diligence): see mailflow/ratings/score.py.
    score: Mapped[float | None]
    score_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tier_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    tier_changed_at: Mapped[datetime | None]
    # Delivery to the installer's own tools (#20): each lead they get is POSTed to this https
    # URL as JSON signed with their own secret (HMAC-SHA256, as the intake webhook). The
    # secret is shown once, to whoever set the URL; mailflow/installers/webhooks.py.
    webhook_url: Mapped[str | None] = mapped_column(String(300))
    webhook_secret: Mapped[str | None] = mapped_column(String(64))
    webhook_secret_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)

    @property
    def postcode_prefixes(self) -> list[str]:
        return self.postcodes.split()


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
