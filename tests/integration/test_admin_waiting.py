"""The admin's view of waiting leads (#17): ``/admin/leads/waiting`` lists the leads waiting for
a busy installer oldest first, with who could take each and what blocks them; the pipeline
shows how many wait; a waiting lead's page says it waits and why; viewers see it all."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select

from mailflow import clock
from mailflow.db import get_engine, session_scope
from mailflow.models import Installer, Lead, LeadStatus, Offer
from mailflow.routing.offers import decline, route_lead
from mailflow.routing.waiting import offer_waiting_leads
from mailflow.web.app import create_app
from support.waiting_line import make_line, noon_in_paris
from support.web import choose_language, signed_in_client

ROW = re.compile(r'<tr data-lead="(\d+)">')


@pytest.fixture(autouse=True)
def _noon():
    with noon_in_paris():
        yield


@pytest.fixture
def line(settings, broker):
    return make_line(settings)


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
    # the absolute instant beside the relative one, in the admin's time zone
    assert "(Europe/Paris)" in first


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
    offer_waiting_leads(settings, clock.now())  # the next pass does what the page said
    with session_scope(settings) as s:
        offer = s.scalar(select(Offer).where(Offer.lead_id == first))
        assert offer is not None and offer.installer_id == line["installers"]["small"]


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
    choose_language(admin_client, "fr")
    html = admin_client.get("/admin/leads/waiting").text
    first = row_html(html, line["waiting"][0])
    assert "il y a" in first  # "il y a 9 minutes"


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


def test_when_nobody_can_take_it_any_more_the_page_says_it_goes_to_the_pool(
    settings, admin_client, line
):
    who = line["installers"]
    with session_scope(settings) as s:
        for name in ("pending", "capped", "small"):
            s.get(Installer, who[name]).active = False
    html = admin_client.get("/admin/leads/waiting").text
    first = line["waiting"][0]
    assert reasons(html, first) == {
        who["pending"]: "deactivated",
        who["capped"]: "deactivated",
        who["small"]: "deactivated",
        who["away"]: "on vacation",
    }
    assert "Nobody can take it any more: it goes to the pool at the next pass." in row_html(
        html, first
    )
    offer_waiting_leads(settings, clock.now())  # the next pass does what the page said
    with session_scope(settings) as s:
        assert s.get(Lead, first).status == LeadStatus.POOL
