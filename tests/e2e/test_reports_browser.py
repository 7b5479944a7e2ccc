"""The reports in headless Chromium against a real uvicorn server (the pages carry no script,
the console needs none): the charts are inline SVG, the filter form and the sort links work, the
installer drill-down links to the installer's page. Saves the screenshots of docs/admin.md
(docs/screens/reports.png, docs/screens/reports-installers.png)."""

from __future__ import annotations

from mailflow import clock
from support.factories import make_admin
from support.paths import REPO
from support.reports import seed_month
from support.servers.browser import browser_page, sign_in

SCREENS = REPO / "docs" / "screens"


def test_reports_show_svg_charts_and_sortable_tables(live_server, settings):
    ids = seed_month(settings, clock.now())
    make_admin(settings, email="ops@example.com")
    SCREENS.mkdir(exist_ok=True)

    with browser_page(viewport={"width": 1320, "height": 900}) as page:
        sign_in(page, live_server, "/admin/reports")
        assert page.locator("nav a.active", has_text="Reports").count() == 1
        for key in (
            "leads_by_source",
            "leads_by_product",
            "acceptance",
            "time_to_accept",
            "timed_out",
            "funnel",
            "pool",
            "queues",
        ):
            chart = page.locator(f"#chart-{key} svg")
            assert chart.count() == 1, key
            assert chart.bounding_box()["height"] > 100, key
        # bars and lines were drawn (not "no data")
        assert page.locator("#chart-leads_by_source svg .rect").count() > 20
        assert page.locator("#chart-pool svg path.line").count() >= 3
        assert int(page.locator('[data-figure="leads"]').inner_text()) > 60
        page.screenshot(path=str(SCREENS / "reports.png"), full_page=True)

        # Installers: sort by timed out, then open one installer's drill-down.
        page.click("nav.viewtabs >> text=Installers")
        page.wait_for_url("**/admin/reports/installers**")
        rows = page.locator("#installer-report tbody tr")
        assert rows.count() == 4
        page.click("#installer-report th a:has-text('Timed out')")
        page.wait_for_url("**sort=-timed_out**")
        values = [int(v) for v in page.locator('td[data-col="timed_out"]').all_inner_texts()]
        assert values == sorted(values, reverse=True)
        page.screenshot(path=str(SCREENS / "reports-installers.png"), full_page=True)

        page.click("#installer-report a:has-text('Soleil Paris')")
        page.wait_for_url(f"**/admin/reports/installers/{ids['Soleil Paris']}**")
        assert page.locator(".chart svg").count() == 8
        page.click("#installer-page")
        page.wait_for_url(f"{live_server}/admin/installers/{ids['Soleil Paris']}")

        # The filter form: one area only.
        page.goto(f"{live_server}/admin/reports/sources")
        page.fill("input[name=area]", "69")
        page.click("#report-filters button[type=submit]")
        page.wait_for_url("**area=69**")
        assert page.locator("#source-report tbody tr").count() >= 1
