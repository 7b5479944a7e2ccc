"""Helpers for lifecycle tests: a lead accepted by the gold Paris installer at a given instant."""

from __future__ import annotations

from datetime import datetime

import time_machine
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import Offer
from mailflow.routing import offers
from support.offers import (
    emails_to,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS


def accepted_lead(settings, at: datetime, *, installers: bool = True) -> int:
    """Create, route and accept a lead at ``at`` (the clock is moved there)."""
    with time_machine.travel(at, tick=False):
        if installers:
            load_installers(settings)
        lead_id = new_lead(settings)
        (offer,) = wait_for_offer(settings, lead_id)
        with session_scope(settings) as s:
            offers.accept(s, offer.id, offer.installer_id, now=at, settings=settings)
    return lead_id


def status_links(settings, address: str = GOLD_PARIS, template: str = "offer_accepted"):
    mails = emails_to(settings, address, template)
    return [links_in(m) for m in mails]


def offers_of(settings, lead_id: int) -> list[Offer]:
    with session_scope(settings) as s:
        return list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))


__all__ = [
    "accepted_lead",
    "emails_to",
    "links_in",
    "offers_of",
    "status_links",
    "wait_for_offer",
]
