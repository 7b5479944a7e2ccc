"""A second chance (#17): the page of an offer that timed out puts the installer back in line;
they are offered the lead again after the current cycle, unless someone accepted it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.i18n import format_duration
from mailflow.models import Installer, LeadStatus, Offer, OfferStatus
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.exchange import paris_lead
from support.offers import csrf_of, emails_to, lead, links_in, load_installers, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS


@pytest.fixture
def client(settings, worker):
    with TestClient(create_app()) as client:
        yield client


def address_of(settings, offer: Offer) -> str:
    with session_scope(settings) as s:
        return s.get(Installer, offer.installer_id).email


def links_of(settings, offer: Offer) -> dict[str, str]:
    address = address_of(settings, offer)
    mail = [m for m in emails_to(settings, address, "offer") if m.lead_id == offer.lead_id]
    return links_in(mail[-1])


def offers(settings, lead_id: int) -> list[Offer]:
    with session_scope(settings) as s:
        return list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))


def expire_first(settings, client, lead_id: int) -> tuple[Offer, str]:
    """The first offer times out (sweep after its deadline); its installer opens the accept
    link and asks to be put back in line."""
    (first,) = wait_for_offer(settings, lead_id)
    run_sweep(settings, first.deadline + timedelta(minutes=1))
    accept = links_of(settings, first)["accept"]
    page = client.get(accept)
    assert page.status_code == 410
    assert 'id="requeue"' in page.text
    action = re.search(r'action="(/l/accept/[^"]+/requeue)"', page.text).group(1)
    done = client.post(action, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200, done.text
    assert 'id="requeue"' not in done.text
    with session_scope(settings) as s:
        assert s.get(Offer, first.id).requeued_at is not None
    again = client.get(accept)
    assert 'id="requeued"' in again.text and 'id="requeue"' not in again.text
    return first, accept


def test_put_back_in_line_then_offered_again_after_the_current_cycle(settings, client):
    load_installers(settings)
    lead_id = paris_lead(settings, 21)
    first, _ = expire_first(settings, client, lead_id)
    second = wait_for_offer(settings, lead_id, 2)[1]
    assert second.installer_id != first.installer_id  # the current cycle goes on first
    assert len(offers(settings, lead_id)) == 2
    assert "requeued" in [e.type for e in lead(settings, lead_id).events]
    decline = links_of(settings, second)["decline"]
    page = client.get(decline)
    client.post(decline, data={"csrf_token": csrf_of(page.text), "reason": "no_capacity"})
    third = wait_for_offer(settings, lead_id, 3)[2]
    assert third.installer_id == first.installer_id
    assert third.routing_reason.startswith("second chance")
    assert lead(settings, lead_id).status == LeadStatus.OFFERED
    # Once only: that offer expiring too ends in the pool, not a third try.
    run_sweep(settings, third.deadline + timedelta(minutes=1))
    assert lead(settings, lead_id).status == LeadStatus.POOL
    assert len(offers(settings, lead_id)) == 3


def test_no_second_chance_when_someone_accepted_meanwhile(settings, client):
    load_installers(settings)
    lead_id = paris_lead(settings, 22)
    first, accept_first = expire_first(settings, client, lead_id)
    second = wait_for_offer(settings, lead_id, 2)[1]
    accept = links_of(settings, second)["accept"]
    page = client.get(accept)
    assert client.post(accept, data={"csrf_token": csrf_of(page.text)}).status_code == 200
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED and row.assigned_installer_id == second.installer_id
    assert len(offers(settings, lead_id)) == 2  # nobody offered it again
    # The expired offer's page no longer offers a second chance, and asking is refused.
    page = client.get(accept_first)
    assert 'id="requeue"' not in page.text


def test_asking_after_someone_accepted_is_refused(settings, client):
    load_installers(settings)
    lead_id = paris_lead(settings, 23)
    (first,) = wait_for_offer(settings, lead_id)
    run_sweep(settings, first.deadline + timedelta(minutes=1))
    accept_first = links_of(settings, first)["accept"]
    page = client.get(accept_first)
    token = csrf_of(page.text)
    second = wait_for_offer(settings, lead_id, 2)[1]
    accept = links_of(settings, second)["accept"]
    other = client.get(accept)
    client.post(accept, data={"csrf_token": csrf_of(other.text)})
    refused = client.post(accept_first + "/requeue", data={"csrf_token": token})
    assert refused.status_code == 409
    with session_scope(settings) as s:
        assert s.get(Offer, first.id).requeued_at is None


def test_second_chance_from_the_pool_is_offered_at_once(settings, client):
    load_installers(settings)
    lead_id = paris_lead(settings, 24)
    (first,) = wait_for_offer(settings, lead_id)
    run_sweep(settings, first.deadline + timedelta(minutes=1))
    second = wait_for_offer(settings, lead_id, 2)[1]
    run_sweep(settings, second.deadline + timedelta(minutes=1))
    assert lead(settings, lead_id).status == LeadStatus.POOL
    accept = links_of(settings, second)["accept"]
    page = client.get(accept)
    client.post(accept + "/requeue", data={"csrf_token": csrf_of(page.text)})
    third = wait_for_offer(settings, lead_id, 3)[2]
    assert third.installer_id == second.installer_id and third.status == OfferStatus.OFFERED
    assert {address_of(settings, first), address_of(settings, second)} == {GOLD_PARIS, SILVER_PARIS}


@pytest.mark.parametrize(
    ("language", "subject", "left"),
    [
        ("en", r"Lead #{ref}: solar PV in 75010 Paris", r"\d+ hr( \d+ min)? left to answer\."),
        (
            "fr",
            r"Lead n° {ref} : photovoltaïque à 75010 Paris",
            r"Il vous reste \d+\sh(\s\d+\smin)? pour",
        ),
        ("de", r"Lead Nr\. {ref}: .* in 75010 Paris", r"Noch \d+\sStd\.(\s\d+\sMin\.)? Zeit"),
    ],
)
def test_offer_email_and_page_show_the_time_left_and_the_subject_the_lead_number(
    settings, client, language, subject, left
):
    load_installers(settings)
    with session_scope(settings) as s:
        for row in s.scalars(select(Installer)):
            row.language = language
    lead_id = paris_lead(settings, 25)
    (offer,) = wait_for_offer(settings, lead_id)
    address = address_of(settings, offer)
    (mail,) = [m for m in emails_to(settings, address, "offer") if m.lead_id == lead_id]
    assert re.fullmatch(subject.format(ref=lead_id), mail.subject), mail.subject
    duration = format_duration(offer.deadline - mail.created_at, language)
    assert re.search(left, mail.body_text) and duration in mail.body_text
    assert duration in mail.body_html
    page = client.get(links_in(mail)["accept"])
    shown = page.text[page.text.index('id="time-left"') :]
    assert re.search(left, shown[: shown.index("</p>")].replace("\u202f", " "))
