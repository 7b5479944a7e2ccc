"""The open lead exchange (#17, Q CELLS "bourse aux leads"): a pool lead is listed for the
installers of its area, claimed by one of them (one winner), reserved for two business days
and back in the exchange when nothing is recorded by then."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain import lead as lead_rules
from mailflow.lifecycle.service import record_status
from mailflow.models import AdminUser, Installer, LeadStatus, Timer
from mailflow.routing import exchange
from mailflow.routing.offers import lock_lead
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.exchange import installer_id, paris_lead, pooled_lead, signed_in
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    wait_for_offer,
)
from support.people import GOLD_PARIS, SILVER_PARIS
from support.web import post, signed_in_client

PARIS = ZoneInfo("Europe/Paris")
SUD = "info@sud-energie.example"  # serves 69 13 33 06, not Paris


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.fixture
def client(settings, worker):
    with TestClient(create_app()) as client:
        yield client


def test_a_pool_lead_is_in_the_exchange_for_the_installers_of_its_area(settings, client):
    load_installers(settings)
    lead_id = pooled_lead(settings, client)
    row = lead(settings, lead_id)
    assert row.exchange_since is not None and row.exchange_reason == "rotation"
    (pooled,) = [e for e in row.events if e.type == "pool"]
    assert pooled.data["exchange"] == "listed"
    with session_scope(settings) as s:
        gold = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        sud = s.scalar(select(Installer).where(Installer.email == SUD))
        assert [x.id for x in exchange.available_leads(s, gold, clock.now())] == [lead_id]
        assert exchange.available_leads(s, sud, clock.now()) == []  # not their area
        gold.active = False
        assert exchange.available_leads(s, gold, clock.now()) == []  # paused: nothing


@pytest.mark.parametrize("rounds", [3])
def test_two_installers_claiming_at_once_one_wins(settings, client, rounds):
    """Both Paris installers press "claim" at the same instant, several times over: exactly one
    holds the lead each time, the other is refused with "taken" and nothing of theirs stays."""
    load_installers(settings)
    ids = [installer_id(settings, a) for a in (GOLD_PARIS, SILVER_PARIS)]
    for round_ in range(rounds):
        lead_id = pooled_lead(settings, client, n=round_)
        barrier = threading.Barrier(2)
        results: dict[int, str] = {}

        def claim(who: int, lead_id: int = lead_id, barrier=barrier, results=results) -> None:
            barrier.wait()
            try:
                with session_scope(settings) as s:
                    exchange.claim(s, lead_id, who, now=clock.now(), settings=settings)
                results[who] = "won"
            except exchange.ClaimRefused as refused:
                results[who] = refused.code

        threads = [threading.Thread(target=claim, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results.values()) == ["taken", "won"], results
        winner = next(i for i, r in results.items() if r == "won")
        row = lead(settings, lead_id)
        assert row.status == LeadStatus.ACCEPTED and row.assigned_installer_id == winner
        assert row.exchange_since is None
        claimed = [e for e in row.events if e.type == "exchange_claimed"]
        assert len(claimed) == 1
        with session_scope(settings) as s:
            timers = list(
                s.scalars(
                    select(Timer).where(Timer.lead_id == lead_id, Timer.kind == "claim_lapse")
                )
            )
            assert [t.installer_id for t in timers] == [winner]
            address = s.get(Installer, winner).email
        details = [
            m for m in emails_to(settings, address, "contact_details") if m.lead_id == lead_id
        ]
        assert len(details) == 1


def _claimed_at(settings, client, at: datetime) -> tuple[int, int]:
    with time_machine.travel(at, tick=False):
        load_installers(settings)
        lead_id = pooled_lead(settings, client)
        gold = installer_id(settings, GOLD_PARIS)
        with session_scope(settings) as s:
            exchange.claim(s, lead_id, gold, now=at, settings=settings)
    return lead_id, gold


def test_an_unworked_claim_returns_to_the_exchange_after_two_business_days(settings, client):
    # Thursday 15:00 Paris: two business days later is Monday 15:00 (the weekend skipped).
    lead_id, gold = _claimed_at(settings, client, local(2026, 11, 19, 15, 0))
    run_sweep(settings, local(2026, 11, 23, 14, 59))
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED and row.assigned_installer_id == gold
    run_sweep(settings, local(2026, 11, 23, 15, 0))
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.POOL and row.assigned_installer_id is None
    assert row.exchange_since is not None and row.exchange_reason == "claim_lapsed"
    types = [e.type for e in row.events]
    assert types.index("exchange_claimed") < types.index("exchange_claim_lapsed")
    (told,) = emails_to(settings, GOLD_PARIS, "exchange_claim_lapsed")
    assert re.search(rf"\b{lead_id}\b", told.subject)  # "Le lead n° 12 est de retour…"
    # Back in the exchange: not re-offered by the pool sweep, claimable again.
    run_sweep(settings, local(2026, 11, 23, 16, 0))
    assert lead(settings, lead_id).status == LeadStatus.POOL
    with session_scope(settings) as s:
        silver = s.scalar(select(Installer).where(Installer.email == SILVER_PARIS))
        listed = exchange.available_leads(s, silver, local(2026, 11, 23, 16, 0))
        assert lead_id in [x.id for x in listed]
        gold_row = s.get(Installer, gold)
        mine = exchange.available_leads(s, gold_row, local(2026, 11, 23, 16, 0))
        assert lead_id not in [x.id for x in mine]  # whose claim lapsed: for the others
    with pytest.raises(exchange.ClaimRefused), session_scope(settings) as s:
        exchange.claim(s, lead_id, gold, now=local(2026, 11, 23, 16, 0), settings=settings)
    with session_scope(settings) as s:
        silver_id = s.scalar(select(Installer.id).where(Installer.email == SILVER_PARIS))
        exchange.claim(s, lead_id, silver_id, now=local(2026, 11, 23, 16, 1), settings=settings)
    row = lead(settings, lead_id)
    assert row.assigned_installer_id == silver_id and row.exchange_lapsed_installer_id is None


def test_a_status_recorded_in_time_keeps_the_claimed_lead(settings, client):
    lead_id, gold = _claimed_at(settings, client, local(2026, 11, 19, 15, 0))
    with time_machine.travel(local(2026, 11, 20, 10, 0), tick=False):
        with session_scope(settings) as s:
            row = lock_lead(s, lead_id)
            record_status(
                s,
                row,
                s.get(Installer, gold),
                "contact_attempted",
                {},
                now=clock.now(),
                settings=settings,
            )
    run_sweep(settings, local(2026, 11, 25, 15, 0))
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.CONTACT_ATTEMPTED and row.assigned_installer_id == gold


def test_claim_out_of_area_or_of_a_lead_not_in_the_exchange_is_refused(settings, client):
    load_installers(settings)
    lead_id = pooled_lead(settings, client)
    with pytest.raises(exchange.ClaimRefused) as refused, session_scope(settings) as s:
        exchange.claim(s, lead_id, installer_id(settings, SUD), now=clock.now(), settings=settings)
    assert refused.value.code == "not_eligible"
    offered = paris_lead(settings, 7)
    wait_for_offer(settings, offered)
    with pytest.raises(exchange.ClaimRefused) as refused, session_scope(settings) as s:
        exchange.claim(
            s, offered, installer_id(settings, GOLD_PARIS), now=clock.now(), settings=settings
        )
    assert refused.value.code == "taken"


def test_daily_email_once_a_day_with_no_identity_and_an_unsubscribe_link(settings, client):
    load_installers(settings)
    lead_id = pooled_lead(settings, client)
    at = clock.now() + timedelta(minutes=1)
    run_sweep(settings, at)
    run_sweep(settings, at + timedelta(minutes=5))  # same day: nothing more
    (mail,) = emails_to(settings, GOLD_PARIS, "exchange_daily")
    assert f"#{lead_id}" in mail.body_text and "75010" in mail.body_text
    for secret in ("Claire", "Dubois", "Quai de Valmy", "claire0@example.fr", "40 34 70 00"):
        assert secret not in mail.body_text and secret not in (mail.body_html or "")
    assert "/l/vacation/" in mail.headers["List-Unsubscribe"]
    assert emails_to(settings, SUD, "exchange_daily") == []  # nothing in their area
    # The unsubscribe link turns the daily email off.
    unsubscribe = re.search(r"/l/vacation/[A-Za-z0-9_\-.]+", mail.body_text).group(0)
    page = client.get(unsubscribe)
    assert page.status_code == 200
    done = client.post(unsubscribe, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200
    with session_scope(settings) as s:
        gold = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        assert gold.exchange_mail_opt_out and not gold.digest_opt_out
    run_sweep(settings, at + timedelta(days=1, hours=1))
    assert len(emails_to(settings, GOLD_PARIS, "exchange_daily")) == 1
    assert len(emails_to(settings, SILVER_PARIS, "exchange_daily")) == 2  # the next day


def test_daily_email_is_sent_once_under_two_schedulers(settings, client):
    load_installers(settings)
    pooled_lead(settings, client)
    at = clock.now() + timedelta(minutes=1)
    threads = [
        threading.Thread(target=exchange.send_exchange_mail, args=(settings, at)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(emails_to(settings, GOLD_PARIS, "exchange_daily")) == 1
    assert len(emails_to(settings, SILVER_PARIS, "exchange_daily")) == 1


def test_admin_opens_an_offered_lead_to_the_exchange(settings, client):
    load_installers(settings)
    lead_id = paris_lead(settings, 8)
    (offer,) = wait_for_offer(settings, lead_id)
    with session_scope(settings) as s:
        s.add(AdminUser(email="admin@mailflow.example", password_hash="x", role="admin"))
        row = lock_lead(s, lead_id)
        exchange.open_to_exchange(
            s, row, now=clock.now(), settings=settings, by="admin@mailflow.example"
        )
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.POOL and row.exchange_reason == "admin"
    assert "exchange_opened" in [e.type for e in row.events]
    run_sweep(settings, clock.now() + timedelta(minutes=1))  # stays in the exchange
    assert lead(settings, lead_id).status == LeadStatus.POOL
    with session_scope(settings) as s:
        address = s.get(Installer, offer.installer_id).email
    accept = links_in(emails_to(settings, address, "offer")[0])["accept"]
    page = client.get(accept)
    assert page.status_code == 409  # the withdrawn offer answers "taken"


def test_leaving_the_pool_leaves_the_exchange():
    class Row:
        id, status, exchange_since, exchange_reason = 1, LeadStatus.POOL, clock.now(), "rotation"

    row = Row()
    lead_rules.move(row, LeadStatus.OFFERED, by=lead_rules.Actor.SYSTEM)
    assert row.exchange_since is None and row.exchange_reason is None
    assert not lead_rules.in_exchange(row)
    with pytest.raises(lead_rules.NotInExchange):
        lead_rules.claim(row, object(), at=clock.now())


def test_admin_button_opens_the_lead_and_the_installers_tab_lists_it(settings, worker):
    load_installers(settings)
    lead_id = paris_lead(settings, 9)
    wait_for_offer(settings, lead_id)
    admin = signed_in_client(settings)
    page = admin.get(f"/admin/leads/{lead_id}")
    assert 'id="exchange-form"' in page.text
    done = post(admin, f"/admin/leads/{lead_id}/exchange", page=f"/admin/leads/{lead_id}")
    assert done.status_code == 303
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.POOL and row.exchange_reason == "admin"
    page = admin.get(f"/admin/leads/{lead_id}")
    assert 'id="in-exchange"' in page.text and 'id="exchange-form"' not in page.text
    again = post(admin, f"/admin/leads/{lead_id}/exchange", page=f"/admin/leads/{lead_id}")
    assert again.status_code == 303
    assert lead(settings, lead_id).exchange_reason == "admin"  # refused, nothing changed


def test_two_claim_buttons_pressed_at_once_one_winner_and_a_clear_page(settings, worker):
    """The same race through the dashboard: two signed-in installers post "claim" together."""
    load_installers(settings)
    with TestClient(create_app()) as client:
        lead_id = pooled_lead(settings, client, n=50)
    clients = {address: signed_in(settings, address) for address in (GOLD_PARIS, SILVER_PARIS)}
    forms = {}
    for address, c in clients.items():
        page = c.get("/dashboard/?tab=available")
        assert f'id="exchange-{lead_id}"' in page.text
        forms[address] = csrf_of(page.text)
    barrier = threading.Barrier(2)
    answers = {}

    def press(address: str) -> None:
        barrier.wait()
        answers[address] = clients[address].post(
            f"/dashboard/exchange/{lead_id}/claim",
            data={"csrf_token": forms[address]},
            follow_redirects=False,
        )

    threads = [threading.Thread(target=press, args=(a,)) for a in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [303, 409], codes
    winner = next(a for a, r in answers.items() if r.status_code == 303)
    loser = next(a for a, r in answers.items() if r.status_code == 409)
    assert answers[winner].headers["location"] == f"/dashboard/leads/{lead_id}?done=claimed"
    assert "Claire" not in answers[loser].text
    assert lead(settings, lead_id).assigned_installer_id == installer_id(settings, winner)
    for c in clients.values():
        c.close()
