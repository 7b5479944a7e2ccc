"""Bad-lead reports (#20) in headless Chromium against a real uvicorn: the installer reports a
lead from the dashboard's lead page, an admin approves it on /admin/returns in one click, and
the installer's limits card and score read as they did before the lead; the lead went back to
rotation (to the other Paris installer)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import Installer, LeadReturn, LeadStatus
from mailflow.web.app import create_app
from support.factories import make_admin
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
from support.servers.browser import browser_page, screenshot, sign_in
from support.waiting import wait_for


def set_installer(settings, address: str, **values) -> None:
    with session_scope(settings) as s:
        row = s.scalar(select(Installer).where(Installer.email == address))
        for key, value in values.items():
            setattr(row, key, value)


def accept(settings, address: str, lead_id: int) -> None:
    mail = [m for m in emails_to(settings, address, "offer") if m.lead_id == lead_id][0]
    link = links_in(mail)["accept"]
    with TestClient(create_app()) as client:
        page = client.get(link)
        assert client.post(link, data={"csrf_token": csrf_of(page.text)}).status_code == 200


def limits_and_score(page, live_server: str) -> tuple[str, str]:
    page.goto(live_server + "/dashboard/")
    limits = page.locator("#limits").inner_text()
    page.goto(live_server + "/dashboard/score")
    return limits, page.locator("#score-value").inner_text()


def test_report_from_the_dashboard_approved_by_an_admin(settings, worker, live_server):
    load_installers(settings)
    make_admin(settings, email="ops@example.com")
    set_installer(settings, GOLD_PARIS, cap_month=40)
    set_installer(settings, SILVER_PARIS, active=False)  # the lead goes to gold

    with browser_page(locale="fr-FR") as page:
        page.goto(live_server + "/dashboard/signin")
        page.fill("#email", GOLD_PARIS)
        page.get_by_role("button", name="M'envoyer un lien de connexion").click()
        page.wait_for_selector("p.notice")
        body = wait_for(lambda: emails_to(settings, GOLD_PARIS, "signin"))[0].body_text
        page.goto(live_server + re.search(r"/l/signin/[A-Za-z0-9_\-.]+", body).group(0))
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(live_server + "/dashboard/")
        limits_before, score_before = limits_and_score(page, live_server)
        assert "0 / 40" in limits_before.replace("\xa0", " ").replace("\u202f", " ")

        lead_id = new_lead(settings, postcode="75010")
        wait_for_offer(settings, lead_id)
        accept(settings, GOLD_PARIS, lead_id)
        set_installer(settings, SILVER_PARIS, active=True)
        limits_accepted, _score = limits_and_score(page, live_server)
        assert limits_accepted != limits_before  # the lead counts while it is theirs
        assert "1 / 40" in limits_accepted.replace("\xa0", " ").replace("\u202f", " ")

        page.goto(f"{live_server}/dashboard/leads/{lead_id}")
        card = page.locator("#report").inner_text()
        assert "Signaler un mauvais lead" in card
        page.check("#reason-has_installer")
        page.fill("#report-note", "A signé avec un concurrent la semaine dernière")
        page.click("#report-submit")
        page.wait_for_url(f"{live_server}/dashboard/leads/{lead_id}?done=reported")
        assert "en attente de la décision" in page.locator("#report-status").inner_text()
        screenshot(page, "returns-reported.png")
        with session_scope(settings) as s:
            (report,) = s.scalars(select(LeadReturn)).all()
            report_id = report.id

        # The admin, in a browser of their own, approves it in one click.
        admin_context = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
        admin = admin_context.new_page()
        sign_in(admin, live_server, "/admin/returns")
        row = admin.locator(f"#return-{report_id}").inner_text()
        assert "A signé avec un concurrent" in row and GOLD_PARIS in row
        screenshot(admin, "returns-admin-pending.png")
        admin.click(f"#approve-{report_id}")
        admin.wait_for_url(f"{live_server}/admin/returns")
        assert admin.locator(f"#return-{report_id}").count() == 0
        decided = admin.locator(f"#decided-{report_id}").inner_text()
        assert "approved" in decided and "ops@example.com" in decided
        assert "back to rotation" in decided
        screenshot(admin, "returns-admin-decided.png")
        admin_context.close()

        # The installer's limits card and score are as they were before the lead.
        limits_after, score_after = limits_and_score(page, live_server)
        assert (limits_after, score_after) == (limits_before, score_before)
        response = page.goto(f"{live_server}/dashboard/leads/{lead_id}")
        assert response.status == 404  # no longer theirs

    row = lead(settings, lead_id)
    assert row.status == LeadStatus.OFFERED
    assert row.assigned_installer_id is None
    mails = wait_for(lambda: emails_to(settings, GOLD_PARIS, "return_decided"))
    assert mails[0].subject == f"Votre signalement du lead n°{lead_id} a été accepté"
    assert [m.lead_id for m in emails_to(settings, SILVER_PARIS, "offer")] == [lead_id]
