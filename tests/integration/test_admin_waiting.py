"""The admin's view of waiting leads (#17): ``/admin/leads/waiting`` lists the leads waiting for
a busy installer oldest first, with who could take each and what blocks them; the pipeline
shows how many wait; a waiting lead's page says it waits and why; viewers see it all."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select

from mailflow import clock
from mailflow.db import get_engine, session_scope
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.routing.offers import decline, route_lead
from mailflow.web.app import create_app
from support.web import signed_in_client

PARIS = ZoneInfo("Europe/Paris")
ROW = re.compile(r'<tr data-lead="(\d+)">')
WAITING = 30  # leads left waiting once the three installers are busy


@pytest.fixture(autouse=True)
def midday():
    """Today at noon in Paris: the leads routed minutes ago count in the installers' day."""
    today = clock.now().astimezone(PARIS).date()
    with time_machine.travel(datetime.combine(today, time(12), tzinfo=PARIS), tick=True):
        yield


def add_installers(settings) -> dict[str, int]:
    """Four installers of the Lyon area (69) and one of Paris: ``pending`` stops at the open
    offer limit (3), ``capped`` at its daily cap (1), ``small`` at its capacity (2);
    ``away`` is on vacation; ``paris`` does not serve Lyon."""
    at = clock.now()
    specs = {
        "pending": {},
        "capped": {"cap_day": 1},
        "small": {"capacity": 2},
        "away": {"vacation_from": at - timedelta(days=1), "vacation_until": at + timedelta(days=9)},
        "paris": {"postcodes": "75"},
    }
    with session_scope(settings) as s:
        rows = {
            name: Installer(
                email=f"{name}@installer.example",
                name=name.title(),
                country="FR",
                timezone="Europe/Paris",
                tier="gold",
                capacity=spec.get("capacity", 100),
                postcodes=spec.get("postcodes", "69"),
                cap_day=spec.get("cap_day"),
                vacation_from=spec.get("vacation_from"),
                vacation_until=spec.get("vacation_until"),
            )
            for name, spec in specs.items()
        }
        s.add_all(rows.values())
        s.flush()
        return {name: row.id for name, row in rows.items()}


def route_in_order(settings, n: int) -> list[int]:
    """``n`` Lyon leads, arrived a few seconds apart and routed one by one as they came: the
    first six are offered (3 + 1 + 2 slots), the others wait, each since its own arrival."""
    start = clock.now() - timedelta(minutes=10)
    rows = [
        {
            "status": LeadStatus.NEW,
            "source": "import",
            "product": "heat_pump" if i % 2 else "pv",
            "customer_name": f"Client Secret{i}",
            "email": f"client{i}@customer.example",
            "phone": f"+336000000{i:02d}",
            "postcode": f"69{i:03d}",
            "city": "Lyon",
            "country": "FR",
            "details": {},
            "progress": {},
            "spam": False,
            "created_at": start + timedelta(seconds=10 * i),
            "updated_at": start + timedelta(seconds=10 * i),
        }
        for i in range(n)
    ]
    with session_scope(settings) as s:
        s.execute(insert(Lead), rows)
        ids = list(s.scalars(select(Lead.id).order_by(Lead.created_at, Lead.id)))
    for i, lead_id in enumerate(ids):
        with session_scope(settings) as s:
            route_lead(s, lead_id, now=start + timedelta(seconds=10 * i + 1), settings=settings)
    return ids


@pytest.fixture
def line(settings, broker):
    installers = add_installers(settings)
    ids = route_in_order(settings, 6 + WAITING)
    with session_scope(settings) as s:
        waiting = list(
            s.scalars(
                select(Lead.id)
                .where(Lead.status == LeadStatus.NEW, Lead.waiting_since.is_not(None))
                .order_by(Lead.id)
            )
        )
        offered = {
            name: s.scalar(
                select(Offer.id).where(
                    Offer.installer_id == installers[name], Offer.status == OfferStatus.OFFERED
                )
            )
            for name in ("pending", "capped", "small")
        }
    assert waiting == ids[6:]  # the routing made them wait: the page has something to show
    return {"installers": installers, "ids": ids, "waiting": waiting, "offered": offered}


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def row_html(html: str, lead_id: int) -> str:
    start = html.index(f'<tr data-lead="{lead_id}">')
    return html[start : html.index("</tr>", start)]


def reasons(html: str, lead_id: int) -> dict[int, str]:
    """{installer id: reason text} of the lead's row."""
    found = re.findall(
        r'<li data-installer="(\d+)"[^>]*>.*?<span class="reason">(.*?)</span>',
        row_html(html, lead_id),
        re.S,
    )
    return {int(i): " ".join(text.split()) for i, text in found}


def test_the_page_lists_waiting_leads_oldest_first_with_why(admin_client, line):
    response = admin_client.get("/admin/leads/waiting")
    assert response.status_code == 200, response.text
    html = response.text
    listed = [int(i) for i in ROW.findall(html)]
    assert listed == line["waiting"]  # 30 fit on one page of 50, oldest first
    who = line["installers"]
    for lead_id in listed:
        assert reasons(html, lead_id) == {
            who["pending"]: "3 open offers of 3",
            who["capped"]: "daily cap 1 reached",
            who["small"]: "at capacity 2/2",
            who["away"]: "on vacation",
        }
        row = row_html(html, lead_id)
        assert "Every installer who could take it is busy" in row
        assert f'href="/admin/leads/{lead_id}"' in row
        assert "minutes ago" in row or "minute ago" in row or "seconds ago" in row
    # Area and product only: no customer name, email or phone on the list.
    assert "Secret" not in html and "@customer.example" not in html and "+336" not in html
    first = row_html(html, listed[0])
    assert "69006 Lyon · FR" in first and "pv" in first
    assert "(UTC)" in first  # the absolute instant beside the relative one


def test_a_freed_slot_changes_the_reason(settings, admin_client, line):
    with session_scope(settings) as s:
        decline(
            s,
            line["offered"]["small"],
            line["installers"]["small"],
            reason="not_interested",
            note=None,
            now=clock.now(),
            settings=settings,
        )
    # The decline's drain job runs on the broker; before it does, the page says what it will do.
    html = admin_client.get("/admin/leads/waiting").text
    first = line["waiting"][0]
    assert reasons(html, first)[line["installers"]["small"]] == "can take it now"
    assert "An installer can take it now" in row_html(html, first)


def test_pagination_and_filters(settings, admin_client, line):
    waiting = line["waiting"]
    first = admin_client.get("/admin/leads/waiting?per=25")
    assert [int(i) for i in ROW.findall(first.text)] == waiting[:25]
    assert "1–25 of 30" in first.text
    assert 'href="/admin/leads/waiting?per=25&amp;page=2"' in first.text
    second = admin_client.get("/admin/leads/waiting?per=25&page=2")
    assert [int(i) for i in ROW.findall(second.text)] == waiting[25:]
    assert 'rel="next"' not in second.text
    # Filters of the lead list that fit: product, postcode prefix, country.
    with session_scope(settings) as s:
        pumps = list(
            s.scalars(
                select(Lead.id)
                .where(Lead.id.in_(waiting), Lead.product == "heat_pump")
                .order_by(Lead.created_at, Lead.id)
            )
        )
    filtered = admin_client.get("/admin/leads/waiting?product=heat_pump")
    assert [int(i) for i in ROW.findall(filtered.text)] == pumps
    assert ROW.findall(admin_client.get("/admin/leads/waiting?country=DE").text) == []
    assert ROW.findall(admin_client.get("/admin/leads/waiting?postcode=75").text) == []


def test_the_reasons_cost_the_same_for_a_page_of_5_or_25(settings, admin_client, line):
    def queries(url: str) -> int:
        seen = []

        def count(*_args, **_kwargs):
            seen.append(1)

        engine = get_engine(settings)
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert admin_client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    small = queries("/admin/leads/waiting?per=25&page=2")  # 5 leads
    big = queries("/admin/leads/waiting?per=25")  # 25 leads
    assert big == small


def test_the_pipeline_counts_waiting_leads(admin_client, line):
    html = admin_client.get("/admin/pipeline").text
    card = html[
        html.index('id="waiting-card"') : html.index("</a>", html.index('id="waiting-card"'))
    ]
    assert 'href="/admin/leads/waiting"' in html
    assert re.search(r'id="waiting-count">\s*30\s*<', card)


def test_the_pipeline_without_waiting_leads(admin_client):
    html = admin_client.get("/admin/pipeline").text
    assert re.search(r'id="waiting-count">\s*0\s*<', html)
    assert "no lead waiting" in html


def test_a_waiting_lead_page_says_why(admin_client, line):
    lead_id = line["waiting"][3]
    html = admin_client.get(f"/admin/leads/{lead_id}").text
    assert 'id="lead-waiting"' in html
    box = html[
        html.index('id="lead-waiting"') : html.index("</div>", html.index('id="lead-waiting"'))
    ]
    assert "Waiting since" in box
    assert "3 open offers of 3" in box and "daily cap 1 reached" in box
    assert "at capacity 2/2" in box and "on vacation" in box
    assert "paris@installer.example" not in box  # does not serve Lyon
    offered = line["ids"][0]
    assert 'id="lead-waiting"' not in admin_client.get(f"/admin/leads/{offered}").text


def test_a_viewer_sees_the_waiting_leads(settings, line):
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as viewer:
        page = viewer.get("/admin/leads/waiting")
        assert page.status_code == 200
        assert [int(i) for i in ROW.findall(page.text)] == line["waiting"]
        assert "3 open offers of 3" in page.text
        assert 'id="lead-waiting"' in viewer.get(f"/admin/leads/{line['waiting'][0]}").text
        assert re.search(r'id="waiting-count">\s*30\s*<', viewer.get("/admin/pipeline").text)


def test_the_page_speaks_the_admins_language(admin_client, line):
    html = admin_client.get("/admin/leads/waiting?lang=fr").text
    first = row_html(html, line["waiting"][0])
    assert "il y a" in first  # "il y a 9 minutes"
    assert "lang=fr" in admin_client.get("/admin/leads/waiting?lang=fr&per=25").text


def test_signed_out_is_sent_to_sign_in(settings):
    response = TestClient(create_app()).get("/admin/leads/waiting", follow_redirects=False)
    assert response.status_code == 303 and "/admin/login" in response.headers["location"]


def test_a_paced_monthly_cap_is_named(settings, admin_client, line):
    with session_scope(settings) as s:
        paced = Installer(
            email="paced@installer.example",
            name="Paced",
            country="FR",
            timezone="Europe/Paris",
            postcodes="38",
            capacity=100,
            cap_month=10,  # paced: at most 1 a day (10 %), 3 a week (30 %)
        )
        s.add(paced)
        s.flush()
        paced_id = paced.id
    at = clock.now() - timedelta(minutes=1)
    with session_scope(settings) as s:
        s.execute(
            insert(Lead),
            [
                {
                    "status": LeadStatus.NEW,
                    "source": "import",
                    "product": "battery",
                    "customer_name": f"Grenoble {i}",
                    "email": f"g{i}@customer.example",
                    "postcode": "38000",
                    "city": "Grenoble",
                    "country": "FR",
                    "details": {},
                    "progress": {},
                    "spam": False,
                    "created_at": at + timedelta(seconds=i),
                    "updated_at": at + timedelta(seconds=i),
                }
                for i in range(2)
            ],
        )
        first, second = s.scalars(select(Lead.id).where(Lead.postcode == "38000").order_by(Lead.id))
    for lead_id in (first, second):
        with session_scope(settings) as s:
            route_lead(s, lead_id, now=at + timedelta(seconds=5), settings=settings)
    html = admin_client.get("/admin/leads/waiting?postcode=38").text
    assert [int(i) for i in ROW.findall(html)] == [second]
    assert reasons(html, second) == {paced_id: "daily cap 1 reached (monthly cap 10, paced)"}
    # The lead list links to the page.
    assert 'href="/admin/leads/waiting"' in admin_client.get("/admin/leads").text
