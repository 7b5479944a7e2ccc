"""Why an installer got a lead (#20), in headless Chromium against a real uvicorn server and a
real Dramatiq worker: leads routed by the worker, the lead page's "Routing decisions", the
reports' Fairness tab. Saves the screenshots of docs/admin.md (docs/screens/lead-decisions.png,
docs/screens/reports-fairness.png)."""

from __future__ import annotations

from datetime import timedelta

from mailflow import clock
from support.factories import make_admin
from support.offers import load_installers, new_lead, wait_for_offer
from support.paths import REPO
from support.people import GOLD_PARIS
from support.servers.browser import browser_page, sign_in

SCREENS = REPO / "docs" / "screens"


def test_the_admin_sees_why_and_whether_rotation_is_fair(live_server, worker, settings):
    load_installers(settings)
    leads = [new_lead(settings, postcode=f"7501{n}", email=f"c{n}@example.fr") for n in range(4)]
    for lead_id in leads:
        wait_for_offer(settings, lead_id)
    make_admin(settings, email="ops@example.com")
    SCREENS.mkdir(exist_ok=True)
    # A day either side: the report counts days of the admin time zone, not UTC.
    start = (clock.now().date() - timedelta(days=1)).isoformat()
    end = (clock.now().date() + timedelta(days=1)).isoformat()

    with browser_page(viewport={"width": 1320, "height": 900}) as page:
        sign_in(page, live_server, f"/admin/leads/{leads[0]}")
        section = page.locator("section[aria-labelledby=decisions-h]")
        assert "Offered to " + GOLD_PARIS in section.inner_text()
        rows = section.locator("table.routing-candidates tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).get_attribute("data-reason") == "higher_tier"
        assert "chosen" in rows.nth(0).inner_text()
        assert "same number of leads, lower tier" in rows.nth(1).inner_text()
        assert "does not serve this postcode (1)" in section.inner_text()
        section.screenshot(path=str(SCREENS / "lead-decisions.png"))

        page.goto(f"{live_server}/admin/reports?start={start}&end={end}")
        page.click("nav.viewtabs >> text=Fairness")
        page.wait_for_url("**/admin/reports/fairness**")
        assert page.locator("nav.viewtabs a.active", has_text="Fairness").count() == 1
        assert page.locator('#fairness-totals [data-figure="decisions"]').inner_text() == "4"
        table = page.locator("#fairness tbody tr")
        assert table.count() == 2  # the two Paris installers; Lyon's was never eligible
        offered = sorted(
            int(n) for n in page.locator('#fairness td[data-col="offered"]').all_inner_texts()
        )
        assert sum(offered) == 4
        assert page.locator("script").count() == 0
        page.screenshot(path=str(SCREENS / "reports-fairness.png"), full_page=True)
