"""The link pages in headless Chromium, on a phone-sized screen."""

from __future__ import annotations

from mailflow.models import LeadStatus
from support.offers import (
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS
from support.servers.browser import browser_page, screenshot


def test_click_accept_see_the_details(settings, worker, live_server):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    with browser_page(viewport={"width": 390, "height": 844}, locale="fr-FR") as page:
        page.goto(live_server + accept)
        assert page.locator("h1").inner_text() == "Accepter ce lead ?"
        assert lead(settings, lead_id).status == LeadStatus.OFFERED  # opening changed nothing
        screenshot(page, "offer-accept-page.png")
        page.get_by_role("button", name="Accepter le lead").click()
        page.wait_for_selector("#customer")
        text = page.locator("#customer").inner_text()
        assert (
            "Claire Dubois" in text and "claire@example.fr" in text and "+33 1 40 34 70 00" in text
        )
        screenshot(page, "offer-accepted-details.png")
        # The page fits a phone: no horizontal scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
