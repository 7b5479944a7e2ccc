"""Helpers for exchange tests: a Paris lead of its own customer, put in the pool by both Paris
installers declining it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.models import Installer, LeadStatus
from mailflow.web.app import create_app
from support.offers import csrf_of, emails_to, lead, links_in, wait_for_offer
from support.waiting import wait_for


def installer_id(settings, address: str) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(Installer.id).where(Installer.email == address))


def paris_lead(settings, n: int = 0) -> int:
    """A new Paris lead of its own customer (another email and phone: no duplicate)."""
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {
                "name": "Claire Dubois",
                "email": f"claire{n}@example.fr",
                "phone": f"+33 1 40 34 70 {n:02d}",
                "street": "Quai de Valmy 167",
                "postcode": "75010",
                "city": "Paris",
                "country": "FR",
            },
            "details": {"annual_consumption_kwh": 3100, "roof_area_m2": 121},
        }
    )
    with session_scope(settings) as s:
        row = create_lead(s, lead_in, now=clock.now(), source="email", channel="smtp")
        lead_created(s, row, now=clock.now(), settings=settings)
        return row.id


def pooled_lead(settings, client, n: int = 0) -> int:
    """A Paris lead both Paris installers declined: in the pool, listed in the exchange."""
    lead_id = paris_lead(settings, n)
    for count in (1, 2):
        offer = wait_for_offer(settings, lead_id, count)[-1]
        with session_scope(settings) as s:
            address = s.get(Installer, offer.installer_id).email
        mail = [m for m in emails_to(settings, address, "offer") if m.lead_id == lead_id][0]
        decline = links_in(mail)["decline"]
        page = client.get(decline)
        client.post(decline, data={"csrf_token": csrf_of(page.text), "reason": "no_capacity"})
    wait_for(lambda: lead(settings, lead_id).status == LeadStatus.POOL)
    return lead_id


SIGNIN_LINK = re.compile(r"/l/signin/[A-Za-z0-9_\-.]+")


def signed_in(settings, address: str) -> TestClient:
    """A dashboard client signed in as ``address`` through the emailed one-time link."""
    client = TestClient(create_app())
    page = client.get("/dashboard/signin")
    before = len(emails_to(settings, address, "signin"))
    client.post("/dashboard/signin", data={"csrf_token": csrf_of(page.text), "email": address})
    body = wait_for(lambda: emails_to(settings, address, "signin")[before:])[0].body_text
    path = SIGNIN_LINK.search(body).group(0)
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return client
