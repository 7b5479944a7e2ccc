"""The dashboard on a 390 px phone in headless Chromium: every tab is on screen and reachable
(the bar wraps, "finished" included), it opens on the tab with work, and the Decline button
has readable contrast (WCAG AA) and does not look disabled."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import Installer
from mailflow.web.app import create_app
from support.offers import csrf_of, emails_to, links_in, load_installers, new_lead, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS
from support.servers.browser import browser_page, screenshot
from support.waiting import wait_for

PHONE = {"width": 390, "height": 844}
# The WCAG relative luminance contrast of the element's text on its background.
CONTRAST = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(el);
  const a = lum(rgb(style.color)), b = lum(rgb(style.backgroundColor));
  return {ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), opacity: style.opacity,
          cursor: style.cursor, background: style.backgroundColor};
}"""


def set_active(settings, address: str, active: bool) -> None:
    with session_scope(settings) as s:
        s.scalar(select(Installer).where(Installer.email == address)).active = active


def accept(settings, lead_id: int) -> None:
    mail = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == lead_id][0]
    link = links_in(mail)["accept"]
    with TestClient(create_app()) as client:
        page = client.get(link)
        assert client.post(link, data={"csrf_token": csrf_of(page.text)}).status_code == 200


def test_every_tab_reachable_on_a_phone(settings, worker, live_server):
    load_installers(settings)
    set_active(settings, SILVER_PARIS, False)  # every Paris lead goes to the gold installer
    held = new_lead(settings, postcode="75010")
    wait_for_offer(settings, held)
    accept(settings, held)
    waiting = new_lead(settings, postcode="75011", email="b@example.fr")
    wait_for_offer(settings, waiting)

    with browser_page(viewport=PHONE, locale="de-DE") as page:
        page.goto(live_server + "/dashboard/signin")
        page.fill("#email", GOLD_PARIS)
        page.locator("form button[type=submit]").click()
        page.wait_for_selector("p.notice")
        body = wait_for(lambda: emails_to(settings, GOLD_PARIS, "signin"))[0].body_text
        page.goto(live_server + re.search(r"/l/signin/[A-Za-z0-9_\-.]+", body).group(0))
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(live_server + "/dashboard/")

        # An offer waits: the dashboard opens on New.
        assert page.locator("nav.tabs a.active").get_attribute("id") == "tab-new"
        tabs = page.locator("nav.tabs a")
        assert tabs.count() == 5
        for i in range(tabs.count()):
            tab = tabs.nth(i)
            assert tab.is_visible()
            box = tab.bounding_box()
            # Wholly on screen without scrolling sideways.
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
                tab.inner_text(),
                box,
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "dashboard-tabs-phone.png")

        # The Decline button: readable (WCAG AA, 4.5:1 for its text) and not greyed out.
        decline = page.locator("#offers a.decline").first
        look = decline.evaluate(CONTRAST)
        assert look["ratio"] >= 4.5, look
        assert float(look["opacity"]) == 1 and look["cursor"] != "not-allowed"
        assert look["background"] not in ("rgb(228, 231, 235)",)  # not the disabled-looking grey

        # The finished tab is reachable by a tap.
        page.locator("#tab-finished").click()
        page.wait_for_url(live_server + "/dashboard/?tab=finished")
        assert page.locator("nav.tabs a.active").get_attribute("id") == "tab-finished"
