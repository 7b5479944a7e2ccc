"""A second chance (Bluebird, LeadAssign; issue #17): the installer of an offer that timed out
asks, from the offer's page, to be put back in line. The expired offer is marked
``requeued_at``; routing offers them the lead once more after the installers of the current
cycle (those never offered it) have all answered or expired, unless someone accepted it
meanwhile (:func:`mailflow.routing.offers.next_offer`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.domain.effects import Record, outcome
from mailflow.domain.offer import OfferClosed
from mailflow.models import Actor, Installer, LeadStatus, Offer, OfferStatus
from mailflow.routing.offers import lock_lead, lock_offer, route_lead

# Where the lead may still come back to the installer: nobody holds it.
WAITING = frozenset({LeadStatus.NEW, LeadStatus.OFFERED, LeadStatus.POOL})


def can_requeue(offer: Offer, lead_status: LeadStatus) -> bool:
    return (
        offer.status == OfferStatus.EXPIRED and offer.requeued_at is None and lead_status in WAITING
    )


def put_back_in_line(
    session: Session, offer_id: int, installer_id: int, *, now: datetime, settings: Settings
) -> Offer:
    """Mark the expired offer for a second chance; raises :class:`OfferClosed` (``taken``:
    someone holds the lead or it is closed; ``invalid``: not an expired offer of theirs)."""
    offer = session.get(Offer, offer_id)
    if offer is None or offer.installer_id != installer_id:
        raise OfferClosed("invalid")
    lead = lock_lead(session, offer.lead_id)
    offer = lock_offer(session, offer_id)
    session.refresh(offer)
    if offer.status != OfferStatus.EXPIRED:
        raise OfferClosed("invalid", offer)
    if offer.requeued_at is not None:
        return offer  # asked already: once is enough
    if lead.status not in WAITING:
        raise OfferClosed("taken", offer)
    later = session.scalar(
        select(Offer.id).where(
            Offer.lead_id == lead.id, Offer.installer_id == installer_id, Offer.id > offer.id
        )
    )
    if later is not None:
        raise OfferClosed("invalid", offer)  # offered again since: that offer is the one
    offer.requeued_at = now
    installer = session.get(Installer, installer_id)
    installer.last_action_at = now
    UnitOfWork(session, settings, now).apply(
        outcome(
            Record(
                lead.id,
                "requeued",
                Actor.INSTALLER,
                {"installer": installer.email, "offer_id": offer.id},
            )
        )
    )
    if lead.status == LeadStatus.POOL:
        # The cycle is over (nobody took it): their turn is now.
        route_lead(session, lead.id, now=now, settings=settings)
    return offer
