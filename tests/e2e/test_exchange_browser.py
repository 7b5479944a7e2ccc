"""The open lead exchange in headless Chromium on a phone (375 px), against a real uvicorn:
two installers of the area see a lead nobody took in "Available leads" (no identity), one
claims it and gets the contact details, the other's claim of the same lead gets a clear page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from mailflow.models import LeadStatus
from mailflow.web.app import create_app
from support.exchange import installer_id, pooled_lead
from support.offers import emails_to, lead, load_installers
from support.people import GOLD_PARIS, SILVER_PARIS
from support.servers.browser import browser_page, screenshot
from support.waiting import wait_for

PHONE = {"width": 375, "height": 740}


def sign_in(page, live_server: str, settings, address: str) -> None:
    page.goto(live_server + "/dashboard/signin")
    page.fill("#email", address)
    before = len(emails_to(settings, address, "signin"))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_selector("p.notice")
    body = wait_for(lambda: emails_to(settings, address, "signin")[before:])[0].body_text
    page.goto(live_server + re.search(r"/l/signin/[A-Za-z0-9_\-.]+", body).group(0))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(live_server + "/dashboard/")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_available_leads_tab_and_claim_on_a_phone(settings, worker, live_server):
    load_installers(settings)
    with TestClient(create_app()) as client:
        lead_id = pooled_lead(settings, client, n=40)

    with browser_page(viewport=PHONE, locale="fr-FR") as gold:
        silver = gold.context.browser.new_context(viewport=PHONE, locale="fr-FR").new_page()
        sign_in(gold, live_server, settings, GOLD_PARIS)
        sign_in(silver, live_server, settings, SILVER_PARIS)
        for page in (gold, silver):
            page.click("#tab-available")
            page.wait_for_url(live_server + "/dashboard/?tab=available")
            row = page.locator(f"#exchange-{lead_id}")
            assert row.is_visible()
            text = row.inner_text()
            assert "75010" in text and "Paris" in text and "3" in text  # area and figures
            content = page.content()
            for secret in ("Claire", "Dubois", "Quai de Valmy", "@example.fr", "40 34 70"):
                assert secret not in content
            assert fits(page)
        screenshot(gold, "exchange-available-phone.png")

        # Silver claims first; gold's page still shows the lead and gold presses claim too.
        silver.locator(f"#exchange-{lead_id} button[type=submit]").click()
        silver.wait_for_url(re.compile(rf".*/dashboard/leads/{lead_id}\?done=claimed"))
        customer = silver.locator("#customer").inner_text()
        assert "Claire Dubois" in customer
        assert silver.locator("#reserved").is_visible()  # until when it is reserved
        assert fits(silver)
        screenshot(silver, "exchange-claimed-phone.png")

        response_holder = {}
        gold.on("response", lambda r: response_holder.setdefault(r.url, r.status))
        gold.locator(f"#exchange-{lead_id} button[type=submit]").click()
        gold.wait_for_load_state()
        assert response_holder.get(f"{live_server}/dashboard/exchange/{lead_id}/claim") == 409
        assert "Claire" not in gold.content()
        assert fits(gold)
        screenshot(gold, "exchange-too-late-phone.png")
        gold.goto(live_server + "/dashboard/?tab=available")
        assert gold.locator(f"#exchange-{lead_id}").count() == 0

    row = lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED
    assert row.assigned_installer_id == installer_id(settings, SILVER_PARIS)
