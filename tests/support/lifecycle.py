"""Helpers for lifecycle tests: a lead accepted by the gold Paris installer at a given instant."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.lifecycle.service import record_status
from mailflow.models import Installer, Offer
from mailflow.routing import offers
from mailflow.routing.offers import lock_lead
from support.offers import (
    emails_to,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS

PARIS = ZoneInfo("Europe/Paris")
CUSTOMER = "claire@example.fr"  # new_lead's customer


def _paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


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


def progress(settings, lead_id, *steps):
    for step, form, at in steps:
        with session_scope(settings) as s:
            row = lock_lead(s, lead_id)
            installer = s.get(Installer, row.assigned_installer_id)
            record_status(s, row, installer, step, form, now=at, settings=settings)


def installed_lead(settings) -> int:
    lead_id = accepted_lead(settings, _paris(2026, 11, 2, 10, 0))
    progress(
        settings,
        lead_id,
        ("first_contact", {}, _paris(2026, 11, 3, 10, 0)),
        ("order_placed", {}, _paris(2026, 11, 5, 10, 0)),
        ("installation_scheduled", {"date": "2026-11-20"}, _paris(2026, 11, 6, 10, 0)),
        ("installed", {"date": "2026-11-20"}, _paris(2026, 11, 20, 18, 0)),
    )
    return lead_id
