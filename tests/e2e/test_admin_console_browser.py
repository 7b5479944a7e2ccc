"""The admin console end to end in headless Chromium against a real uvicorn server: sign in,
filter the lead list, open a lead, reassign it, export the filtered list as XLSX and read it
back with openpyxl."""

from __future__ import annotations

from openpyxl import load_workbook
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.leads.search import index_pending
from mailflow.models import Lead, LeadEvent, LeadStatus, Offer, OfferStatus
from mailflow.routing.offers import route_lead
from support.factories import make_admin
from support.offers import emails_to, load_installers, new_lead
from support.servers.browser import browser_page, screenshot, sign_in


def test_sign_in_filter_open_reassign_and_export(live_server, settings, broker, tmp_path):
    load_installers(settings)
    make_admin(settings, email="ops@example.com")
    target = new_lead(settings, email="helene.roux@example.fr")
    with session_scope(settings) as s:
        s.get(Lead, target).customer_name = "Hélène Roux"
    others = [
        new_lead(settings, postcode=postcode, email=f"c{i}@example.fr", city=city)
        for i, (postcode, city) in enumerate(
            [("75011", "Paris"), ("69003", "Lyon"), ("13001", "Marseille"), ("75012", "Paris")]
        )
    ]
    with session_scope(settings) as s:
        for lead_id in [target, *others]:
            route_lead(s, lead_id, now=clock.now(), settings=settings)
    index_pending(settings)

    with browser_page() as page:
        sign_in(page, live_server, "/admin/leads")
        assert page.locator("#leads-table tbody tr").count() == 5

        # Filter: Paris leads that are offered, searched by the customer's name.
        page.fill("input[name=q]", "helene")
        page.fill("input[name=postcode]", "75")
        page.select_option("select[name=status]", "offered")
        page.click("#apply-filters")
        page.wait_for_url("**q=helene**")
        rows = page.locator("#leads-table tbody tr")
        assert rows.count() == 1
        assert rows.first.get_attribute("data-lead") == str(target)
        screenshot(page, "admin-console-filtered.png")

        # Open it and reassign it to the silver installer.
        rows.first.locator("a").first.click()
        page.wait_for_url(f"{live_server}/admin/leads/{target}")
        assert "Hélène Roux" in page.inner_text("h1")
        assert "contact@soleil-paris.example" in page.inner_text("#offers")
        option = page.locator("#assign-form select option", has_text="devis@ile-de-france-pv")
        page.select_option("#assign-form select[name=installer_id]", option.get_attribute("value"))
        page.fill("#assign-form input[name=reason]", "customer knows this installer")
        page.click("#assign-form button[type=submit]")
        page.wait_for_url(f"{live_server}/admin/leads/{target}")
        assert "assigned to devis@ile-de-france-pv.example" in page.inner_text("main")
        assert "devis@ile-de-france-pv.example" in page.inner_text("#lead-installer")
        timeline = page.inner_text("#timeline")
        assert "Assigned to IDF Photovoltaïque: customer knows this installer" in timeline
        assert "ops@example.com" in timeline
        screenshot(page, "admin-console-reassigned.png")

        # Export what the list shows (Paris, any status) as XLSX.
        page.goto(f"{live_server}/admin/leads?postcode=75")
        assert page.locator("#leads-table tbody tr").count() == 3
        with page.expect_download() as download_info:
            page.click("#export-xlsx")
        download = download_info.value
        assert download.suggested_filename.startswith("leads-")
        assert download.suggested_filename.endswith(".xlsx")
        path = tmp_path / download.suggested_filename
        download.save_as(path)

    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert sorted(r["id"] for r in records) == sorted([target, others[0], others[3]])
    exported = next(r for r in records if r["id"] == target)
    assert exported["name"] == "Hélène Roux" and exported["status"] == "accepted"
    assert exported["assigned_to"] == "devis@ile-de-france-pv.example"
    assert exported["postcode"] == "75010"

    with session_scope(settings) as s:
        lead = s.get(Lead, target)
        assert lead.status == LeadStatus.ACCEPTED
        offer = s.scalar(select(Offer).where(Offer.lead_id == target))
        assert offer.status == OfferStatus.WITHDRAWN
        event = s.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == target).order_by(LeadEvent.id.desc())
        ).first()
        assert event.type == "assigned" and event.data["by"] == "ops@example.com"
    templates = [
        m.template
        for m in emails_to(settings, "devis@ile-de-france-pv.example")
        if m.lead_id == target
    ]
    assert templates == ["offer_accepted", "contact_details"]
