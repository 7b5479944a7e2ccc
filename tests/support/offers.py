"""Helpers for offer tests: installers from the corpus, leads, links out of sent emails."""

from __future__ import annotations

import re

from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.installers.io import import_installers
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.models import Lead, Offer, OutboxMessage
from support.paths import CORPUS
from support.waiting import wait_for

LINK = re.compile(r"/l/(accept|decline|reveal|status|vacation|survey|signin)/([A-Za-z0-9_\-.]+)")


def load_installers(settings) -> None:
    report = import_installers(CORPUS / "installers.csv", settings)
    assert report.rejected == 0


def new_lead(
    settings,
    postcode: str = "75010",
    email: str = "claire@example.fr",
    country: str = "FR",
    city: str = "Paris",
) -> int:
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {
                "name": "Claire Dubois",
                "email": email,
                "phone": "+33 1 40 34 70 00",
                "street": "Quai de Valmy 167",
                "postcode": postcode,
                "city": city,
                "country": country,
                "reachability": "toujours",
            },
            "message": "Merci de m'appeler après 18h.",
            "details": {"annual_consumption_kwh": 3100, "module_count": 13},
        }
    )
    with session_scope(settings) as s:
        lead = create_lead(s, lead_in, now=clock.now(), source="email", channel="smtp")
        lead_created(s, lead, now=clock.now(), settings=settings)
        return lead.id


def emails_to(settings, address: str, template: str | None = None) -> list[OutboxMessage]:
    with session_scope(settings) as s:
        query = select(OutboxMessage).where(OutboxMessage.to == address).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        return list(s.scalars(query))


def links_in(message: OutboxMessage) -> dict[str, str]:
    return {action: f"/l/{action}/{token}" for action, token in LINK.findall(message.body_text)}


def wait_for_offer(settings, lead_id: int, count: int = 1) -> list[Offer]:
    def offers():
        with session_scope(settings) as s:
            rows = list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))
            return rows if len(rows) >= count else None

    return wait_for(offers)


def lead(settings, lead_id: int) -> Lead:
    with session_scope(settings) as s:
        row = s.get(Lead, lead_id)
        _ = row.events, row.assigned_installer
        return row


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)
