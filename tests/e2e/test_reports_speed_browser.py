"""The speed-to-lead report in headless Chromium against a real uvicorn server: reached from
the reports' tabs, the headline figures, the chart as inline SVG (no script), the four tables,
the tier filter. Saves the screenshot of docs/admin.md (docs/screens/reports-speed.png)."""

from __future__ import annotations

from mailflow import clock
from support.factories import make_admin
from support.paths import REPO
from support.reports import seed_month
from support.servers.browser import browser_page, sign_in

SCREENS = REPO / "docs" / "screens"


def test_speed_report_shows_headline_chart_and_tables(live_server, settings):
    seed_month(settings, clock.now())
    make_admin(settings, email="ops@example.com")
    SCREENS.mkdir(exist_ok=True)

    with browser_page(viewport={"width": 1320, "height": 900}) as page:
        sign_in(page, live_server, "/admin/reports")
        page.click("nav.viewtabs >> text=Speed to lead")
        page.wait_for_url("**/admin/reports/speed**")
        assert page.locator("nav.viewtabs a.active", has_text="Speed to lead").count() == 1
        assert int(page.locator('#speed-totals [data-figure="leads"]').inner_text()) > 60
        for figure in ("to_first_contact_median", "to_acceptance_median"):
            seconds = page.locator(f'#speed-totals [data-figure="{figure}"]').get_attribute(
                "data-seconds"
            )
            assert seconds and int(seconds) > 0, figure
        chart = page.locator("#chart-speed svg")
        assert chart.count() == 1 and chart.bounding_box()["height"] > 100
        assert page.locator("#chart-speed svg path.line").count() >= 2  # lines were drawn
        assert page.locator("script").count() == 0
        for by in ("installer", "source", "product", "tier"):
            assert page.locator(f"#speed-by-{by} tbody tr").count() >= 2, by
        page.screenshot(path=str(SCREENS / "reports-speed.png"), full_page=True)

        page.select_option("#report-filters select[name=tier]", "gold")
        page.click("#report-filters button[type=submit]")
        page.wait_for_url("**tier=gold**")
        assert page.locator("#speed-by-tier tbody tr").all_inner_texts()[0].startswith("gold")
        assert page.locator("#speed-by-tier tbody tr").count() == 1
