"""The installer's own speed on their score page (#20): median time from arrival to
acceptance and to first contact over the last 30 days, from the leads they hold (the same
computation as GET /api/speed and the admin report), with why it matters."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.links import tokens
from mailflow.models import Installer, Lead, LeadStatus
from mailflow.web.app import create_app
from support.offers import csrf_of

ME, OTHER = "fast@solar.example", "other@solar.example"


def seed(settings, language: str = "en") -> None:
    """Mine in the last 30 days: acceptance after 10, 30 and 50 minutes (median 30), first
    contact after 20 and 100 minutes (median 60); mine before that and another installer's,
    both quicker, are not counted."""
    at = clock.now()
    with session_scope(settings) as s:
        ids = {}
        for email, lang in ((ME, language), (OTHER, "en")):
            row = Installer(email=email, name=email, country="FR", postcodes="75", language=lang)
            s.add(row)
            s.flush()
            ids[email] = row.id
        known = [
            (ME, 2, 10, 20),
            (ME, 5, 30, 100),
            (ME, 9, 50, None),
            (ME, 40, 1, 2),  # before the 30 days
            (OTHER, 3, 1, 2),
        ]
        for email, days_ago, accepted, contact in known:
            arrived = at - timedelta(days=days_ago)
            s.add(
                Lead(
                    customer_name="Client",
                    postcode="75011",
                    country="FR",
                    source="webhook",
                    status=LeadStatus.ACCEPTED,
                    assigned_installer_id=ids[email],
                    created_at=arrived,
                    updated_at=arrived,
                    accepted_at=arrived + timedelta(minutes=accepted),
                    first_contact_at=arrived + timedelta(minutes=contact) if contact else None,
                )
            )


def signed_in(settings, email: str) -> TestClient:
    with session_scope(settings) as s:
        who = s.scalar(select(Installer).where(Installer.email == email))
        token = tokens.issue(
            s, settings, "signin", now=clock.now(), subject_id=who.id, installer_id=who.id
        )
    client = TestClient(create_app())
    page = client.get(f"/l/signin/{token}")
    done = client.post(
        f"/l/signin/{token}", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return client


def cell(html: str, ident: str) -> str:
    return re.search(rf'id="{ident}">([^<]*)<', html).group(1)


def test_the_score_page_shows_my_median_times_and_why_they_matter(settings):
    seed(settings)
    page = signed_in(settings, ME).get("/dashboard/score")
    assert page.status_code == 200
    assert "Your speed (last 30 days)" in page.text
    assert cell(page.text, "speed-accept") == "30 min"
    assert cell(page.text, "speed-contact") == "1 hr"
    assert "about seven times as likely" in cell(page.text, "speed-why")


def test_no_leads_yet_shows_a_dash_and_the_page_follows_the_language(settings):
    seed(settings, language="de")
    with session_scope(settings) as s:
        s.add(Installer(email="new@solar.example", name="New", country="FR", postcodes="75"))
    page = signed_in(settings, "new@solar.example").get("/dashboard/score")
    assert (cell(page.text, "speed-accept"), cell(page.text, "speed-contact")) == ("—", "—")
    german = signed_in(settings, ME).get("/dashboard/score").text
    assert cell(german, "speed-accept") == "30 Min."
    assert cell(german, "speed-contact") == "1 Std."
