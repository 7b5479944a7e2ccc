"""The survey page in headless Chromium on a phone, in French and German."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailflow.db import session_scope
from mailflow.lifecycle.service import record_status
from mailflow.models import Installer, Survey
from mailflow.routing import offers
from mailflow.routing.offers import lock_lead
from mailflow.schedule import run_sweep
from support.offers import (
    emails_to,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.servers.browser import browser_page, screenshot

CASES = {
    "fr": (
        "75010",
        "FR",
        "Paris",
        "claire@example.fr",
        "Europe/Paris",
        "Comment s'est passée votre installation",
        "Envoyer ma note",
        "enregistrée",
    ),
    "de": (
        "04107",
        "DE",
        "Leipzig",
        "jonas@example.de",
        "Europe/Berlin",
        "Wie war Ihre Installation",
        "Bewertung senden",
        "gespeichert",
    ),
}


@pytest.mark.parametrize("language", ["fr", "de"])
@time_machine.travel(datetime(2026, 11, 13, 9, 30, tzinfo=UTC), tick=True)
def test_rate_on_a_phone(settings, worker, live_server, language):
    postcode, country, city, email, tz, title, button, saved = CASES[language]
    start = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo(tz))
    with time_machine.travel(start, tick=False):
        load_installers(settings)
        lead_id = new_lead(settings, postcode=postcode, country=country, city=city, email=email)
        (offer,) = wait_for_offer(settings, lead_id)
    with session_scope(settings) as s:
        offers.accept(s, offer.id, offer.installer_id, now=start, settings=settings)
    for step, form, day in (("order_placed", {}, 3), ("installed", {"date": "2026-11-10"}, 10)):
        with session_scope(settings) as s:
            row = lock_lead(s, lead_id)
            record_status(
                s,
                row,
                s.get(Installer, row.assigned_installer_id),
                step,
                form,
                now=start.replace(day=day),
                settings=settings,
            )
    run_sweep(settings, datetime(2026, 11, 13, 10, 0, tzinfo=ZoneInfo(tz)))
    (mail,) = emails_to(settings, email, "survey")
    assert mail.language == language
    url = links_in(mail)["survey"]
    with browser_page(viewport={"width": 375, "height": 740}, locale=language) as page:
        page.goto(live_server + url)
        assert title in page.locator("h1").inner_text()
        for criterion, mark in (("service", 5), ("installation", 4), ("communication", 5)):
            page.locator(f"label[for='{criterion}-{mark}']").click()
        page.fill("#comment", "Top <b>équipe</b>")
        screenshot(page, f"survey-{language}-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.get_by_role("button", name=button).click()
        page.wait_for_selector("p.notice")
        assert saved in page.locator("p.notice").inner_text()
    with session_scope(settings) as s:
        survey = s.query(Survey).one()
        assert (survey.service, survey.installation, survey.communication) == (5, 4, 5)
        assert survey.comment == "Top <b>équipe</b>"  # stored as written, escaped when shown
