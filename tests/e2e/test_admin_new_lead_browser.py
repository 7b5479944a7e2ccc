"""The admin's "new lead" page in headless Chromium against a real uvicorn server: from the
lead list to the form, an error beside its field with the typed values kept, then the lead's
page (#16)."""

from __future__ import annotations

import re

from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import Lead
from support.factories import make_admin
from support.offers import load_installers
from support.servers.browser import browser_page, screenshot, sign_in


def test_fill_the_form_and_see_the_lead(live_server, settings, worker):
    load_installers(settings)
    make_admin(settings, email="ops@example.com")
    with browser_page() as page:
        sign_in(page, live_server, "/admin/leads")
        page.click("#new-lead")
        page.wait_for_url(f"{live_server}/admin/leads/new")

        form = page.locator("#new-lead-form")
        form.locator("input[name=name]").fill("Margaux Lefèvre")
        form.locator("input[name=email]").fill("margaux.lefevre@")  # a typo first
        form.locator("input[name=phone]").fill("06 98 76 54 32")
        form.locator("input[name=street]").fill("3 rue de la Roquette")
        form.locator("input[name=postcode]").fill("75011")
        form.locator("input[name=city]").fill("Paris")
        form.locator("select[name=product]").select_option("heat_pump")
        form.locator("input[name=annual_consumption_kwh]").fill("5200")
        form.locator("textarea[name=message]").fill("A appelé ce matin, maison de 1975.")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#email-error")
        assert page.inner_text("#email-error") == "This is not a valid email address."
        assert form.locator("input[name=name]").input_value() == "Margaux Lefèvre"
        assert form.locator("select[name=product]").input_value() == "heat_pump"
        screenshot(page, "admin-new-lead-error.png")

        form.locator("input[name=email]").fill("margaux.lefevre@example.fr")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/admin/leads/\d+$"))
        with session_scope(settings) as s:
            lead = s.scalars(select(Lead)).one()
            assert (lead.source, lead.phone) == ("manual", "+33698765432")
        assert page.url == f"{live_server}/admin/leads/{lead.id}"
        assert "Margaux Lefèvre" in page.inner_text("h1")
        assert f"Lead #{lead.id} created." in page.inner_text("main")
        timeline = page.inner_text("#timeline")
        assert "Request received from manual" in timeline and "ops@example.com" in timeline
        screenshot(page, "admin-new-lead-created.png")
