"""Exactly one winner: parallel accepts on a real server (run on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx

from mailflow.models import LeadStatus
from mailflow.schedule import run_sweep
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


def prepared_clients(base: str, path: str, count: int) -> list[tuple[httpx.Client, str]]:
    clients = []
    for _ in range(count):
        client = httpx.Client(base_url=base, timeout=60)
        page = client.get(path)
        assert page.status_code == 200
        clients.append((client, csrf_of(page.text)))
    return clients


def post_all_at_once(prepared, path: str) -> list[httpx.Response]:
    barrier = threading.Barrier(len(prepared))
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def fire(client, csrf):
        barrier.wait()
        response = client.post(path, data={"csrf_token": csrf})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=fire, args=pair) for pair in prepared]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for client, _ in prepared:
        client.close()
    return results


def test_twenty_parallel_posts_to_one_accept_link(settings, worker, live_server):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    results = post_all_at_once(prepared_clients(live_server, accept, 20), accept)
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 19, codes
    winners = [r for r in results if r.status_code == 200]
    assert "claire@example.fr" in winners[0].text
    for loser in (r for r in results if r.status_code == 409):
        assert "Vous avez déjà accepté ce lead" in loser.text
        assert "claire@example.fr" not in loser.text
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED
    assert [e.type for e in row.events].count("accepted") == 1
    assert len(emails_to(settings, GOLD_PARIS, "contact_details")) == 1


def test_accepts_from_an_expired_and_a_new_offer(settings, worker, live_server):
    load_installers(settings)
    lead_id = new_lead(settings)
    (first,) = wait_for_offer(settings, lead_id)
    old_accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    old_clients = prepared_clients(live_server, old_accept, 5)
    run_sweep(settings, first.deadline + timedelta(seconds=1))  # expiry → silver is offered
    wait_for_offer(settings, lead_id, 2)
    new_accept = links_in(emails_to(settings, SILVER_PARIS, "offer")[0])["accept"]
    new_clients = prepared_clients(live_server, new_accept, 5)
    barrier_results = post_all_at_once(old_clients + [], old_accept)
    results = post_all_at_once(new_clients, new_accept)
    assert sorted(r.status_code for r in barrier_results) == [410] * 5
    assert sorted(r.status_code for r in results) == [200] + [409] * 4
    row = lead(settings, lead_id)
    assert row.assigned_installer.email == SILVER_PARIS
    assert [e.type for e in row.events].count("accepted") == 1
