"""Offers that rotate: routing, link pages, decline, expiry, pool, security."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock, config
from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.links.tokens import serializer
from mailflow.models import AdminUser, LeadStatus, Offer, OfferStatus
from mailflow.schedule import run_sweep
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
from support.people import GOLD_PARIS, SILVER_PARIS
from support.waiting import wait_for
from support.web import csrf_cookie


@pytest.fixture
def client(settings):
    with TestClient(create_app_()) as client:
        yield client


def create_app_():
    return create_app()


def snapshot(settings, lead_id):
    row = lead(settings, lead_id)
    with session_scope(settings) as s:
        offers = [
            (o.installer_id, o.status)
            for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id))
        ]
    return row.status, row.assigned_installer_id, offers, len(row.events)


def test_lead_is_offered_to_the_best_installer_and_accepted_once(settings, worker, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    (offer,) = wait_for_offer(settings, lead_id)
    (offer_mail,) = emails_to(settings, GOLD_PARIS, "offer")
    assert emails_to(settings, SILVER_PARIS) == []  # one installer at a time
    assert "Claire" not in offer_mail.body_text and "claire@example.fr" not in offer_mail.body_html
    assert offer_mail.headers["Reply-To"].startswith("reply+")
    events = lead(settings, lead_id).events
    offered = [e for e in events if e.type == "offered"][0]
    assert offered.data["reason"].startswith("gold, 0 offers in 30 days, serves 75")
    links = links_in(offer_mail)

    # Opening the link (as a mail scanner does) changes nothing.
    before = snapshot(settings, lead_id)
    for _ in range(3):
        page = client.get(links["accept"])
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        assert "noindex" in page.headers["X-Robots-Tag"]
        assert "Claire" not in page.text
    assert snapshot(settings, lead_id) == before

    done = client.post(links["accept"], data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200
    for shown in (
        "Claire Dubois",
        "claire@example.fr",
        "+33140347000",
        "Quai de Valmy 167",
        "toujours",
        "après 18h",
    ):
        assert shown in done.text
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED and row.assigned_installer.email == GOLD_PARIS

    # Again: a clear page, no second acceptance.
    again = client.post(links["accept"], data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "Vous avez déjà accepté ce lead" in again.text

    # The contact-details email's reveal link shows them once.
    (details_mail,) = emails_to(settings, GOLD_PARIS, "contact_details")
    reveal = links_in(details_mail)["reveal"]
    reveal_page = client.get(reveal)
    assert reveal_page.status_code == 200 and "Claire" not in reveal_page.text
    shown = client.post(reveal, data={"csrf_token": csrf_of(reveal_page.text)})
    assert shown.status_code == 200 and "claire@example.fr" in shown.text
    second = client.post(reveal, data={"csrf_token": csrf_of(reveal_page.text)})
    assert second.status_code == 409
    assert "claire@example.fr" not in second.text and "Coordonnées déjà affichées" in second.text
    assert emails_to(settings, SILVER_PARIS) == []  # the second installer never got an offer


def test_decline_moves_the_offer_on(settings, worker, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    decline = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["decline"]
    page = client.get(decline)
    assert page.status_code == 200 and 'name="reason"' in page.text
    done = client.post(
        decline,
        data={
            "csrf_token": csrf_of(page.text),
            "reason": "no_capacity",
            "note": "full until March",
        },
    )
    assert done.status_code == 200
    (_, second) = wait_for_offer(settings, lead_id, 2)
    assert emails_to(settings, SILVER_PARIS, "offer")
    with session_scope(settings) as s:
        first = s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)).first()
        assert (first.status, first.decline_reason, first.decline_note) == (
            OfferStatus.DECLINED,
            "no_capacity",
            "full until March",
        )
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


def test_sweep_after_the_deadline_expires_and_reoffers(settings, worker):
    load_installers(settings)
    lead_id = new_lead(settings)
    (offer,) = wait_for_offer(settings, lead_id)
    before = CliRunner().invoke(
        main, ["sweep", "--at", (offer.deadline - timedelta(minutes=1)).isoformat()]
    )
    assert "offers: 0" in before.output
    after = CliRunner().invoke(
        main, ["sweep", "--at", (offer.deadline + timedelta(minutes=1)).isoformat()]
    )
    assert after.exit_code == 0 and "offers: 1" in after.output, after.output
    first, second = wait_for_offer(settings, lead_id, 2)
    assert first.status == OfferStatus.EXPIRED and second.status == OfferStatus.OFFERED
    assert emails_to(settings, SILVER_PARIS, "offer")
    # Running the same sweep again acts on nothing more.
    again = CliRunner().invoke(
        main, ["sweep", "--at", (offer.deadline + timedelta(minutes=1)).isoformat()]
    )
    assert "offers: 0" in again.output


def test_everyone_declines_then_pool_and_admin_email(settings, worker, client):
    load_installers(settings)
    with session_scope(settings) as s:
        s.add(AdminUser(email="admin@mailflow.example", password_hash="x", role="admin"))
    lead_id = new_lead(settings)
    for address in (GOLD_PARIS, SILVER_PARIS):
        wait_for_offer(settings, lead_id)
        decline = links_in(emails_to(settings, address, "offer")[0])["decline"]
        page = client.get(decline)
        client.post(decline, data={"csrf_token": csrf_of(page.text), "reason": "not_interested"})
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.POOL
    assert "pool" in [e.type for e in row.events]
    # The admins hear of it in their next digest (the sweep), not in an email per lead.
    assert emails_to(settings, "admin@mailflow.example") == []
    run_sweep(settings, clock.now())
    (digest,) = emails_to(settings, "admin@mailflow.example", "admin_digest")
    assert f"Lead #{lead_id} is in the pool" in digest.body_text
    assert "/admin/leads?status=pool" in digest.body_text


def test_pool_lead_is_offered_when_an_installer_becomes_eligible(settings, worker):
    lead_id = new_lead(settings, postcode="33000", city="Bordeaux")  # nobody serves 33

    wait_for(lambda: lead(settings, lead_id).status == LeadStatus.POOL)
    load_installers(settings)  # Sud Énergie serves 33
    run_sweep(settings, clock.now())
    (offer,) = wait_for_offer(settings, lead_id)
    assert emails_to(settings, "info@sud-energie.example", "offer")


@pytest.mark.parametrize(
    "case", ["flipped", "other_purpose", "expired", "retired_key", "garbage", "unknown_nonce"]
)
def test_bad_links_get_a_clear_page_and_change_nothing(settings, worker, client, case, monkeypatch):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    links = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])
    accept = links["accept"]
    before = snapshot(settings, lead_id)
    if case == "flipped":
        token = accept.rsplit("/", 1)[1]
        i = len(token) // 2
        url = f"/l/accept/{token[:i]}{'A' if token[i] != 'A' else 'B'}{token[i + 1 :]}"
    elif case == "other_purpose":
        url = "/l/accept/" + links["decline"].rsplit("/", 1)[1]
    elif case == "garbage":
        url = "/l/accept/not-a-token"
    elif case == "unknown_nonce":
        url = "/l/accept/" + serializer(settings, "accept").dumps({"n": "nope"})
    elif case == "retired_key":
        monkeypatch.setenv("MAILFLOW_SECRET_KEYS", "brand-new-key")
        config.reset_settings()
        url = accept
    else:
        url = accept
    if case == "expired":
        with time_machine.travel(clock.now() + timedelta(days=15), tick=False):
            response = client.get(url)
            post = client.post(url, data={"csrf_token": "x"}, cookies=csrf_cookie("x"))
    else:
        response = client.get(url)
        post = client.post(url, data={"csrf_token": "x"}, cookies=csrf_cookie("x"))
    expected = 410 if case == "expired" else 400
    assert response.status_code == expected and post.status_code == expected
    assert "<h1>" in response.text and "Traceback" not in response.text
    assert re.search("(lien|link)", response.text, re.I)
    assert snapshot(settings, lead_id) == before


def test_old_key_still_verifies_after_rotation(settings, worker, client, monkeypatch):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    monkeypatch.setenv("MAILFLOW_SECRET_KEYS", "rotated-in-key,test-key-new,test-key-old")
    config.reset_settings()
    assert client.get(accept).status_code == 200


def test_post_without_csrf_is_refused(settings, worker, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    client.cookies.clear()
    assert client.post(accept, data={}).status_code == 403
    page = client.get(accept)
    assert client.post(accept, data={"csrf_token": "forged"}).status_code == 403
    assert lead(settings, lead_id).status == LeadStatus.OFFERED
    assert client.post(accept, data={"csrf_token": csrf_of(page.text)}).status_code == 200


def test_french_installer_sees_french_pages(settings, worker, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    page = client.get(accept)
    assert 'lang="fr"' in page.text and "Accepter" in page.text
