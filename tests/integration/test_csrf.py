"""One CSRF scheme (mailflow.web.csrf): pages without a session use a signed double-submit
cookie, pages of a session echo the session's token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mailflow.models import LeadStatus
from mailflow.web.app import create_app
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS

PLANTED = {"mf_csrf": "x", "mf_link_csrf": "x", "mf_dash_csrf": "x"}


@pytest.fixture
def offer_links(settings, worker) -> tuple[int, dict[str, str]]:
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    return lead_id, links_in(emails_to(settings, GOLD_PARIS, "offer")[0])


def test_a_planted_unsigned_cookie_does_not_pass(settings, offer_links):
    lead_id, links = offer_links
    with TestClient(create_app()) as client:
        response = client.post(links["accept"], data={"csrf_token": "x"}, cookies=PLANTED)
        signin = client.post(
            "/dashboard/signin",
            data={"csrf_token": "x", "email": GOLD_PARIS},
            cookies=PLANTED,
        )
    assert response.status_code == 403
    assert signin.status_code == 403
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


def test_a_link_page_open_in_another_tab_still_works(settings, offer_links):
    lead_id, links = offer_links
    with TestClient(create_app()) as client:
        first = csrf_of(client.get(links["accept"]).text)
        client.get(links["decline"])  # a second page, opened later in another tab
        accepted = client.post(links["accept"], data={"csrf_token": first})
    assert accepted.status_code == 200
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED


def test_the_cookie_is_signed_and_the_form_holds_the_plain_token(settings, offer_links):
    _lead_id, links = offer_links
    with TestClient(create_app()) as client:
        page = client.get(links["accept"])
    token = csrf_of(page.text)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("mf_csrf=") and f"mf_csrf={token};" not in cookie
    assert "Path=/;" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
