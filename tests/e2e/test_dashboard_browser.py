"""The installer dashboard in headless Chromium against a real uvicorn: sign in by emailed
link, record a quote, and nothing of another installer's lead."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import Installer, LeadStatus
from mailflow.web.app import create_app
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS, SILVER_PARIS
from support.servers.browser import browser_page, screenshot
from support.waiting import wait_for

PHONE = {"width": 390, "height": 844}


def set_active(settings, address: str, active: bool) -> None:
    with session_scope(settings) as s:
        s.scalar(select(Installer).where(Installer.email == address)).active = active


def accept(settings, address: str, lead_id: int) -> None:
    mail = [m for m in emails_to(settings, address, "offer") if m.lead_id == lead_id][0]
    link = links_in(mail)["accept"]
    with TestClient(create_app()) as client:
        page = client.get(link)
        assert client.post(link, data={"csrf_token": csrf_of(page.text)}).status_code == 200


def test_sign_in_and_record_a_quote(settings, worker, live_server):
    load_installers(settings)
    # Gold's lead in Paris (silver paused so routing cannot share it), silver's in Meaux (77).
    set_active(settings, SILVER_PARIS, False)
    ours = new_lead(settings, postcode="75010")
    wait_for_offer(settings, ours)
    accept(settings, GOLD_PARIS, ours)
    set_active(settings, SILVER_PARIS, True)
    theirs = new_lead(settings, postcode="77100", city="Meaux", email="marc@example.fr")
    wait_for_offer(settings, theirs)
    accept(settings, SILVER_PARIS, theirs)

    with browser_page(locale="fr-FR") as page:
        page.goto(live_server + "/dashboard/")
        assert "/dashboard/signin" in page.url  # signed out: the sign-in form
        page.fill("#email", GOLD_PARIS)
        page.get_by_role("button", name="M'envoyer un lien de connexion").click()
        page.wait_for_selector("p.notice")
        assert "un lien de connexion est en route" in page.locator("p.notice").inner_text()

        # The link is sent by a job: wait for it.
        body = wait_for(lambda: emails_to(settings, GOLD_PARIS, "signin"))[0].body_text
        path = re.search(r"/l/signin/[A-Za-z0-9_\-.]+", body).group(0)
        page.goto(live_server + path)
        assert page.locator("h1").inner_text() == "Connexion à votre espace"
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(live_server + "/dashboard/")
        assert page.locator("h1").inner_text() == "Vos leads"

        page.click(f'a[href="/dashboard/leads/{ours}"]')
        page.wait_for_url(f"{live_server}/dashboard/leads/{ours}")
        customer = page.locator("#customer").inner_text()
        assert "Claire Dubois" in customer and "claire@example.fr" in customer
        page.check("#step-quote_sent")
        amount = page.locator("#f-quote_sent-amount")
        assert amount.is_visible()
        assert not page.locator("#f-follow_up-date").is_visible()  # only the chosen step's fields
        amount.fill("14 200")
        page.check("#f-quote_sent-approved")
        page.fill("#f-quote_sent-products", "12 modules, 1 onduleur")
        page.locator("#record button[type=submit]").click()
        page.wait_for_url(f"{live_server}/dashboard/leads/{ours}?done=saved")
        timeline = page.locator("#timeline").inner_text()
        assert "Devis envoyé" in timeline and "14\u202f200,00\xa0€" in timeline
        assert "Devis envoyé" in page.locator("#status").inner_text()
        screenshot(page, "dashboard-lead.png")

        page.set_viewport_size(PHONE)
        screenshot(page, "dashboard-lead-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.goto(live_server + "/dashboard/?tab=progress")
        assert page.locator(f'a[href="/dashboard/leads/{ours}"]').is_visible()
        screenshot(page, "dashboard-home-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # Another installer's lead: not found, nothing shown.
        response = page.goto(f"{live_server}/dashboard/leads/{theirs}")
        assert response.status == 404
        assert "marc@example.fr" not in page.content() and "Meaux" not in page.content()

    row = lead(settings, ours)
    assert row.status == LeadStatus.QUOTE_SENT
    assert row.progress["quote"]["amount"] == 14200 and row.progress["quote"]["approved"] is True
    assert lead(settings, theirs).status == LeadStatus.ACCEPTED
