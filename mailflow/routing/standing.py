"""Where an installer stands against their limits: leads offered in their current day, week
and month (what the caps count), and their open offers against the pending limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.routing import paced_caps, period_starts
from mailflow.models import Installer, Offer, OfferStatus


def period_counts(session: Session, installer: Installer, now: datetime) -> tuple[int, int, int]:
    """Leads offered to the installer (withdrawn offers and approved bad-lead reports aside) in
    their current day, week and month, counted in their time zone."""
    day, week, month = period_starts(now, installer.timezone)
    since = min(week, month)
    offered = Offer.offered_at
    row = session.execute(
        select(
            func.count().filter(offered >= day),
            func.count().filter(offered >= week),
            func.count().filter(offered >= month),
        ).where(
            Offer.installer_id == installer.id,
            offered >= since,
            Offer.status != OfferStatus.WITHDRAWN,
            Offer.returned_at.is_(None),  # an approved bad-lead report gives the slot back
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


@dataclass(frozen=True)
class Standing:
    """Where an installer stands against their limits (dashboard, admin page)."""

    pending: int
    pending_limit: int
    # (leads offered, cap in force after pacing or None) for the day, week and month.
    periods: tuple[tuple[int, int | None], ...]
    own_caps: tuple[int | None, int | None, int | None]


def installer_standing(
    session: Session, installer: Installer, now: datetime, settings: Settings
) -> Standing:
    pending = session.scalar(
        select(func.count()).where(
            Offer.installer_id == installer.id, Offer.status == OfferStatus.OFFERED
        )
    )
    caps = paced_caps(
        installer.cap_day,
        installer.cap_week,
        installer.cap_month,
        day_percent=settings.pacing_day_percent,
        week_percent=settings.pacing_week_percent,
    )
    used = period_counts(session, installer, now)
    return Standing(
        pending=pending or 0,
        pending_limit=settings.max_pending_offers,
        periods=tuple(zip(used, caps, strict=True)),
        own_caps=(installer.cap_day, installer.cap_week, installer.cap_month),
    )
