"""The waiting leads in headless Chromium against a real uvicorn server (#17): from the
pipeline's figure to the list and on to a waiting lead's page, on a desktop and a phone."""

from __future__ import annotations

from support.factories import make_admin
from support.servers.browser import browser_page, screenshot, sign_in
from support.waiting_line import WAITING, make_line, noon_in_paris


def test_from_the_pipeline_to_a_waiting_lead(live_server, settings, broker):
    with noon_in_paris():
        line = make_line(settings)
        make_admin(settings, email="ops@example.com")
        with browser_page() as page:
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sign_in(page, live_server, "/admin/pipeline")
            assert page.inner_text("#waiting-count") == str(WAITING)

            page.click("#waiting-card")
            page.wait_for_url(f"{live_server}/admin/leads/waiting")
            rows = page.locator("#waiting-table tbody tr")
            assert rows.count() == WAITING
            first = rows.first
            assert first.get_attribute("data-lead") == str(line["waiting"][0])
            why = first.inner_text()
            assert "3 open offers of 3" in why and "daily cap 1 reached" in why
            assert "at capacity 2/2" in why
            screenshot(page, "admin-waiting-leads.png")

            first.locator(f"a[href='/admin/leads/{line['waiting'][0]}']").click()
            page.wait_for_url(f"{live_server}/admin/leads/{line['waiting'][0]}")
            assert "Every installer who could take it is busy" in page.inner_text("#lead-waiting")
            assert not [e for e in errors if "Content Security Policy" in e], errors

        with browser_page(viewport={"width": 390, "height": 844}) as phone:
            sign_in(phone, live_server, "/admin/login", landing="/admin/")
            phone.goto(f"{live_server}/admin/leads/waiting")
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            screenshot(phone, "admin-waiting-leads-phone.png")
