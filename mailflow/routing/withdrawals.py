"""Offers an installer can no longer answer are withdrawn at once: when they go on vacation,
when an admin deactivates them, when their address is flagged as bouncing, and by the sweep
for a vacation that starts later (or any other way an installer became unavailable). Each lead
moves on to the next installer in the same transaction; the installer is told in one email
listing the leads (not a bouncing address: that email would bounce too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain import offer as offer_rules
from mailflow.domain.effects import QueueEmail, outcome
from mailflow.domain.routing import Candidate, on_vacation
from mailflow.models import Installer, Offer, OfferStatus
from mailflow.routing.offers import lock_lead, lock_offer
from mailflow.routing.speed import others_open


def unavailable_because(installer: Installer, at: datetime) -> str | None:
    """Why the installer cannot answer offers now (``deactivated``, ``bouncing``, ``vacation``),
    or None."""
    if not installer.active:
        return "deactivated"
    if installer.bounced_at is not None:
        return "bouncing"
    bare = Candidate(
        id=installer.id,
        email=installer.email,
        country=installer.country,
        postcodes=(),
        vacation_from=installer.vacation_from,
        vacation_until=installer.vacation_until,
    )
    if on_vacation(bare, at):
        return "vacation"
    return None


def withdraw_open_offers_of(
    session: Session, installer: Installer, *, now: datetime, settings: Settings
) -> list[int]:
    """If the installer is unavailable now, their open offers are withdrawn, each lead routed
    on, and one email lists them. Returns the ids of the leads withdrawn."""
    why = unavailable_because(installer, now)
    if why is None:
        return []
    offer_ids = list(
        session.scalars(
            select(Offer.id)
            .where(Offer.installer_id == installer.id, Offer.status == OfferStatus.OFFERED)
            .order_by(Offer.id)
        )
    )
    uow = UnitOfWork(session, settings, now)
    leads = []
    for offer_id in offer_ids:
        offer = session.get(Offer, offer_id)
        lead = lock_lead(session, offer.lead_id)
        offer = lock_offer(session, offer_id)
        session.refresh(offer)
        if offer.status != OfferStatus.OFFERED:
            continue
        uow.apply(
            offer_rules.withdraw_unavailable(
                offer,
                lead,
                installer.email,
                at=now,
                why=why,
                others_open=others_open(session, offer),
            )
        )
        leads.append(lead.id)
    if leads and why != "bouncing":
        uow.apply(
            outcome(
                QueueEmail(
                    "offers_withdrawn",
                    installer_id=installer.id,
                    data={"lead_ids": leads, "reason": why},
                )
            )
        )
    return leads


def withdraw_unavailable_offers(settings: Settings, at: datetime) -> int:
    """Sweep: open offers of installers on vacation, deactivated or bouncing now are withdrawn
    (one transaction per installer). Returns how many leads moved on."""
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(Installer.id)
                .where(
                    Installer.id.in_(
                        select(Offer.installer_id).where(Offer.status == OfferStatus.OFFERED)
                    ),
                    or_(
                        Installer.active.is_(False),
                        Installer.bounced_at.is_not(None),
                        Installer.vacation_from.is_not(None),
                        Installer.vacation_until.is_not(None),
                    ),
                )
                .order_by(Installer.id)
            )
        )
    moved = 0
    for installer_id in ids:
        with session_scope(settings) as session:
            installer = session.get(Installer, installer_id)
            moved += len(withdraw_open_offers_of(session, installer, now=at, settings=settings))
    return moved
