"""The leads kanban and table in headless Chromium against a real server: on a 390 px phone
the kanban's stages (open, in progress, won, lost) scroll sideways inside their own box (the
page itself never scrolls sideways), columns snap into place, cards are readable and a long
column links to all its leads; at 1280 px two ticked rows are put back in rotation in one go."""

from __future__ import annotations

from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import AuditEntry, Lead, LeadEvent, LeadStatus
from mailflow.routing.offers import route_lead
from support.factories import make_admin
from support.offers import load_installers, new_lead
from support.servers.browser import browser_page, screenshot, sign_in

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# How many leads of each status the kanban shows (new: more than a column's 12 cards).
MIX = {
    LeadStatus.NEW: 14,
    LeadStatus.POOL: 2,
    LeadStatus.ACCEPTED: 3,
    LeadStatus.QUOTE_SENT: 2,
    LeadStatus.ORDER_PLACED: 1,
    LeadStatus.INSTALLED: 2,
    LeadStatus.FAILED: 2,
    LeadStatus.EXPIRED: 1,
}


def test_kanban_on_a_phone_and_bulk_rotation_on_a_desktop(live_server, settings, broker):
    load_installers(settings)
    make_admin(settings, email="ops@example.com")
    made = {status: [] for status in MIX}
    for status, count in MIX.items():
        for i in range(count):
            lead_id = new_lead(
                settings, email=f"{status.value}{i}@example.fr", postcode="69001", city="Lyon"
            )
            made[status].append(lead_id)
    with session_scope(settings) as s:
        for status, ids in made.items():
            for lead_id in ids:
                s.get(Lead, lead_id).status = status
    # Two Paris leads offered to installers (or in the pool when nobody is left for them).
    offered = [new_lead(settings, email=f"o{i}@example.fr", postcode=f"7501{i}") for i in range(2)]
    with session_scope(settings) as s:
        for lead_id in offered:
            route_lead(s, lead_id, now=clock.now(), settings=settings)
        assert {s.get(Lead, i).status for i in offered} <= {LeadStatus.OFFERED, LeadStatus.POOL}

    with browser_page(viewport=PHONE) as page:
        sign_in(page, live_server, "/admin/leads?view=kanban")
        kanban = page.locator("#kanban")
        # The page never scrolls sideways; the kanban does, inside its box.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = kanban.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        widths = kanban.evaluate(
            "k => [k.scrollWidth, k.clientWidth, getComputedStyle(k).scrollSnapType]"
        )
        assert widths[0] > 3 * widths[1] and "x" in widths[2] and "mandatory" in widths[2]
        # Stages in order, each with its count; the columns' counts add up.
        stages = page.locator(".kgroup")
        assert [stages.nth(i).get_attribute("id") for i in range(stages.count())] == [
            "kgroup-open",
            "kgroup-in_progress",
            "kgroup-won",
            "kgroup-lost",
        ]
        open_count = MIX[LeadStatus.NEW] + MIX[LeadStatus.POOL] + len(offered)
        assert page.inner_text("#kgroup-open-h").split() == ["Open", str(open_count)]
        assert page.inner_text("#kgroup-lost-h").split() == ["Lost", "3"]
        new_column = page.locator('.kcol[data-status="new"]')
        assert new_column.locator(".kcount").inner_text() == "14"
        assert new_column.locator(".kcard").count() == 12
        assert new_column.locator(".more a").inner_text() == "all 14 →"
        # A card is readable: most of the screen wide, its text inside it.
        card = new_column.locator(".kcard").first
        card_box = card.bounding_box()
        assert 260 <= card_box["width"] <= PHONE["width"]
        assert card.evaluate("c => c.scrollWidth <= c.clientWidth")
        assert float(card.evaluate("c => parseFloat(getComputedStyle(c).fontSize)")) >= 13
        screenshot(page, "admin-kanban-phone.png")

        # A swipe (a sideways scroll of the box) brings the next column in, snapped to the edge.
        before = kanban.evaluate("k => k.scrollLeft")
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 60)
        page.mouse.wheel(200, 0)
        page.wait_for_function(
            "() => document.querySelector('#kanban').scrollLeft > 0", timeout=5000
        )
        page.wait_for_timeout(400)  # the snap settles
        snapped = kanban.evaluate(
            """k => {
              const edge = k.getBoundingClientRect().left;
              return [...k.querySelectorAll('.kcol')].some(
                c => Math.abs(c.getBoundingClientRect().left - edge) < 8);
            }"""
        )
        assert kanban.evaluate("k => k.scrollLeft") > before and snapped
        # The stage links jump to the stage (no script: an anchor in the scrolling box).
        page.click('.kgroups-nav a[href="#kgroup-lost"]')
        page.wait_for_function(
            "() => document.querySelector('#kgroup-lost').getBoundingClientRect().left < 390"
        )
        lost = page.locator('.kcol[data-status="failed"]').bounding_box()
        assert 0 <= lost["x"] < PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "admin-kanban-phone-lost.png")

        # The long column's link opens the table of all its leads (on the phone too, no
        # sideways scrolling of the page).
        page.click("#kgroup-open .more a")
        page.wait_for_url("**status=new**")
        assert page.locator("#leads-table tbody tr").count() == 14
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "admin-leads-table-phone.png")

    with browser_page(viewport=DESKTOP) as page:
        sign_in(page, live_server, "/admin/leads?postcode=75")
        rows = page.locator("#leads-table tbody tr")
        assert sorted(int(rows.nth(i).get_attribute("data-lead")) for i in range(2)) == sorted(
            offered
        )
        assert rows.count() == 2
        for lead_id in offered:
            page.check(f'#leads-table input[name=id][value="{lead_id}"]')
        page.fill("#bulk-actions input[name=reason]", "first installer is on holiday")
        screenshot(page, "admin-leads-table-ticked.png")
        page.click("#bulk-rotate")
        page.wait_for_url(f"{live_server}/admin/leads/bulk")
        summary = page.inner_text("#bulk-summary")
        assert summary.startswith("2 put back in rotation"), summary
        assert page.locator('#bulk-outcomes tr[data-done="yes"]').count() == 2
        screenshot(page, "admin-leads-bulk-result.png")
        page.click("#back-to-list")
        page.wait_for_url("**/admin/leads?postcode=75")
        # On a desktop the board scrolls sideways too, the page does not.
        page.goto(f"{live_server}/admin/leads?view=kanban")
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
        assert page.locator("#kanban").evaluate("k => k.scrollWidth > k.clientWidth")
        screenshot(page, "admin-kanban-desktop.png")

    with session_scope(settings) as s:
        for lead_id in offered:
            event = s.scalars(
                select(LeadEvent).where(
                    LeadEvent.lead_id == lead_id, LeadEvent.type == "back_to_rotation"
                )
            ).one()
            assert event.data["reason"] == "first installer is on holiday"
            assert event.data["by"] == "ops@example.com"
        audit = s.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "lead.rotate"))
        assert sorted(audit) == sorted(str(i) for i in offered)
