"""Delivery to the installer's own tools (#20): each lead an installer gets is POSTed to their
webhook as signed JSON, through the outbox, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock, config, reactions
from mailflow.db import session_scope
from mailflow.domain.intake.webhook import verify_signature
from mailflow.installers.webhooks import set_webhook
from mailflow.leads.admin_actions import assign
from mailflow.models import AuditEntry, Installer, InstallerSession, OutboxMessage, OutboxState
from mailflow.outbound.outbox import MAX_ATTEMPTS, backoff, deliver
from mailflow.routing.offers import accept, route_lead
from mailflow.web.app import create_app
from mailflow.web.dashboard.labels import SESSION_COOKIE
from mailflow.web.dashboard.sessions import _signer
from support.factories import make_lead
from support.offers import new_lead
from support.receiver import running_receiver
from support.waiting import wait_for
from support.web import AUTH, choose_language, post, signed_in_client

# A Wednesday, 10:00 in Paris: inside the installer's working hours.
WEDNESDAY = datetime(2027, 3, 17, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def wired():
    reactions.install()


@pytest.fixture
def settings(settings, monkeypatch):
    """The receivers listen on 127.0.0.1: local addresses allowed (MAILFLOW_WEBHOOK_ALLOW_LOCAL)."""
    monkeypatch.setenv("MAILFLOW_WEBHOOK_ALLOW_LOCAL", "1")
    config.reset_settings()
    return config.get_settings()


def public_only(monkeypatch):
    """The production default: public https:// addresses only."""
    monkeypatch.delenv("MAILFLOW_WEBHOOK_ALLOW_LOCAL")
    config.reset_settings()


@pytest.fixture
def travel():
    with time_machine.travel(WEDNESDAY, tick=False) as traveller:
        yield traveller


def with_webhook(settings, installer_id: int, url: str) -> str:
    with session_scope(settings) as s:
        change = set_webhook(s.get(Installer, installer_id), url, now=clock.now(), allow_local=True)
        return change.secret


def accepted_lead(settings, installer_id: int) -> int:
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        offer = route_lead(s, lead_id, now=clock.now(), settings=settings)
        assert offer is not None and offer.installer_id == installer_id
        offer_id = offer.id
    with session_scope(settings) as s:
        accept(s, offer_id, installer_id, now=clock.now(), settings=settings)
    return lead_id


def deliveries(settings) -> list[OutboxMessage]:
    with session_scope(settings) as s:
        return list(
            s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "webhook")
                .order_by(OutboxMessage.id)
            )
        )


def verified(request, secret: str) -> dict:
    """The body, once its signature is checked as a receiver would (the intake's own check)."""
    verify_signature(
        secret,
        request.headers["x-mailflow-timestamp"],
        request.headers["x-mailflow-signature"],
        request.body,
        now=clock.now(),
        tolerance_seconds=300,
    )
    return json.loads(request.body)


def test_accepted_lead_is_posted_signed_once(settings, installer, travel):
    with running_receiver() as receiver:
        secret = with_webhook(settings, installer, receiver.url)
        lead_id = accepted_lead(settings, installer)
        (row,) = deliveries(settings)
        assert (row.state, row.to, row.lead_id) == (OutboxState.QUEUED, receiver.url, lead_id)
        assert secret not in (row.body_text or "") and secret.encode() not in (row.raw or b"")

        assert deliver(row.id, settings=settings, now=clock.now()).state == OutboxState.SENT
        (request,) = receiver.requests
        body = verified(request, secret)
        assert request.path == "/hooks/leads"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["idempotency-key"] == row.message_id == body["delivery_id"]
        assert body["event"] == "lead.accepted" and body["via"] == "accepted"
        assert (body["lead_id"], body["installer_id"]) == (lead_id, installer)
        assert body["product"] == "pv"
        assert body["customer"]["name"] == "Claire Dubois"
        assert body["customer"]["email"] == "claire@example.fr"
        assert body["customer"]["phone"] == "+33140347000"
        assert body["customer"]["postcode"] == "75010"
        assert body["details"]["annual_consumption_kwh"] == 3100
        assert datetime.fromisoformat(body["accepted_at"]) == WEDNESDAY
        # Signed with another secret, the same request does not verify.
        with pytest.raises(Exception, match="signature does not match"):
            verified(request, secret + "x")

        # Sent: running the sender again, now or later, sends nothing more.
        assert deliver(row.id, settings=settings, now=clock.now()).state is None
        travel.shift(timedelta(hours=2))
        assert deliver(row.id, settings=settings, now=clock.now()).state is None
        assert len(receiver.requests) == 1
        (row,) = deliveries(settings)
        assert (row.state, row.attempts, row.last_error) == (OutboxState.SENT, 1, None)


def test_a_500_is_retried_with_the_outbox_backoff(settings, installer, travel):
    with running_receiver() as receiver:
        receiver.statuses[:] = [500, 503]
        secret = with_webhook(settings, installer, receiver.url)
        accepted_lead(settings, installer)
        (row,) = deliveries(settings)

        first = deliver(row.id, settings=settings, now=clock.now())
        assert (first.state, first.retry_in) == (OutboxState.QUEUED, backoff(1))
        (row,) = deliveries(settings)
        assert (row.attempts, row.last_error) == (1, "HTTP 500 Internal Server Error")
        assert row.next_attempt_at == clock.now() + backoff(1)
        # Not due yet: nothing is sent.
        assert deliver(row.id, settings=settings, now=clock.now()).state is None
        assert len(receiver.requests) == 1

        travel.shift(backoff(1))
        second = deliver(row.id, settings=settings, now=clock.now())
        assert (second.state, second.retry_in) == (OutboxState.QUEUED, backoff(2))
        travel.shift(backoff(2))
        assert deliver(row.id, settings=settings, now=clock.now()).state == OutboxState.SENT
        assert len(receiver.requests) == 3
        # Every attempt is signed afresh (its own timestamp), and all carry the same delivery.
        stamps = [r.headers["x-mailflow-timestamp"] for r in receiver.requests]
        assert len(set(stamps)) == 3
        assert {r.headers["idempotency-key"] for r in receiver.requests} == {row.message_id}
        assert verified(receiver.requests[-1], secret)["lead_id"] == row.lead_id

        travel.shift(timedelta(days=1))
        assert deliver(row.id, settings=settings, now=clock.now()).state is None
        assert len(receiver.requests) == 3
        (row,) = deliveries(settings)
        assert (row.state, row.attempts, row.last_error) == (OutboxState.SENT, 3, None)


def test_an_unreachable_receiver_is_given_up_after_the_last_attempt(settings, installer, travel):
    with running_receiver() as receiver:
        url = receiver.url
    # The receiver is gone: every attempt is a refused connection.
    with_webhook(settings, installer, url)
    accepted_lead(settings, installer)
    (row,) = deliveries(settings)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = deliver(row.id, settings=settings, now=clock.now())
        if attempt < MAX_ATTEMPTS:
            assert result.state == OutboxState.QUEUED
            travel.shift(result.retry_in)
    assert result.state == OutboxState.FAILED
    (row,) = deliveries(settings)
    assert row.attempts == MAX_ATTEMPTS and "Connection refused" in row.last_error


def test_no_webhook_no_delivery(settings, installer, travel):
    accepted_lead(settings, installer)
    assert deliveries(settings) == []
    with session_scope(settings) as s:
        emails = s.scalars(select(OutboxMessage.template).where(OutboxMessage.channel == "email"))
        assert {"offer", "offer_accepted", "contact_details"} <= set(emails)


def test_admin_queue_monitor_shows_the_delivery_without_the_secret(settings, installer, travel):
    with running_receiver() as receiver:
        receiver.statuses[:] = [500]
        secret = with_webhook(settings, installer, receiver.url)
        lead_id = accepted_lead(settings, installer)
        (row,) = deliveries(settings)
        deliver(row.id, settings=settings, now=clock.now())
    client = signed_in_client(settings)
    listing = client.get("/admin/outbox?state=queued")
    assert listing.status_code == 200
    assert f'href="/admin/outbox/{row.id}"' in listing.text
    assert receiver.url in listing.text
    link = f'href="/admin/outbox/{row.id}"'
    assert link in client.get("/admin/outbox?channel=webhook").text
    assert link not in client.get("/admin/outbox?channel=email").text
    page = client.get(f"/admin/outbox/{row.id}")
    assert page.status_code == 200
    assert "HTTP 500 Internal Server Error" in page.text  # the last error
    assert receiver.url in page.text and row.message_id in page.text
    assert f"#{lead_id}" in page.text
    assert "Claire Dubois" in page.text  # the payload, as it is sent
    for shown in (listing.text, page.text, client.get(f"/admin/installers/{installer}").text):
        assert secret not in shown
    # The read API lists it too, as a webhook.
    api = client.get(f"/api/outbox?lead_id={lead_id}", headers=AUTH).json()["items"]
    (item,) = [i for i in api if i["id"] == row.id]
    assert (item["channel"], item["to"], item["state"]) == ("webhook", receiver.url, "queued")
    assert {i["channel"] for i in api} == {"webhook", "email"}
    assert secret not in json.dumps(api)


# ------------------------------------------------------------------ setting the URL --------
def dashboard(settings, installer_id: int) -> TestClient:
    """A browser signed in to the installer's dashboard (their session row and cookie)."""
    with session_scope(settings) as s:
        row = InstallerSession(
            id=secrets.token_urlsafe(16),
            installer_id=installer_id,
            created_at=clock.now(),
            expires_at=clock.now() + timedelta(days=1),
            csrf_token=CSRF,
        )
        s.add(row)
        sid = row.id
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, _signer(settings).dumps(sid))
    return client


CSRF = "installer-csrf-token"


def save(client, action: str, url: str = ""):
    return client.post(
        "/dashboard/settings",
        data={"csrf_token": CSRF, "action": action, "webhook_url": url},
        follow_redirects=False,
    )


def stored(settings, installer_id: int) -> tuple[str | None, str | None]:
    with session_scope(settings) as s:
        row = s.get(Installer, installer_id)
        return row.webhook_url, row.webhook_secret


def test_installer_sets_their_webhook_and_sees_the_secret_once(settings, installer, monkeypatch):
    public_only(monkeypatch)
    client = dashboard(settings, installer)  # a French-speaking installer
    page = client.get("/dashboard/settings")
    assert page.status_code == 200 and 'id="webhook_url"' in page.text

    refused = {
        "http://crm.example.com/hooks": "L’adresse doit commencer par https://.",
        "https://127.0.0.1/hooks": "L’adresse doit être joignable depuis internet",
        "https://192.168.1.20/hooks": "L’adresse doit être joignable depuis internet",
        "https://user:pass@crm.example.com/": "L’adresse ne doit contenir ni nom d’utilisateur",
        "https://crm.example.com/" + "a" * 300: "L’adresse peut contenir 300 caractères au plus.",
        "ftp://crm.example.com/": "L’adresse doit commencer par https://.",
        "": "Saisissez l’adresse de votre webhook.",
    }
    for url, error in refused.items():
        answer = save(client, "webhook", url)
        assert answer.status_code == 422, url
        assert error in answer.text.replace("&#39;", "’").replace("'", "’"), url
    assert stored(settings, installer) == (None, None)

    url = "https://crm.example.com/hooks/leads?source=mailflow"
    answer = save(client, "webhook", url)
    assert answer.status_code == 200
    stored_url, secret = stored(settings, installer)
    assert stored_url == url and secret.startswith("whsec_") and len(secret) > 40
    assert secret in answer.text  # shown once, on the answer to the change
    assert answer.headers["cache-control"] == "no-store"  # and kept by no browser or proxy
    assert secret not in client.get("/dashboard/settings").text

    # The same address again: nothing changes, the secret stays.
    assert save(client, "webhook", url).status_code == 303
    assert stored(settings, installer) == (url, secret)
    # A new secret replaces the old one, shown once too.
    answer = save(client, "webhook_secret")
    _, renewed = stored(settings, installer)
    assert renewed != secret and renewed in answer.text and secret not in answer.text
    # Removed: no URL, no secret.
    assert save(client, "webhook_remove").status_code == 303
    assert stored(settings, installer) == (None, None)
    # Without the session's CSRF token nothing changes.
    forged = client.post(
        "/dashboard/settings",
        data={"action": "webhook", "webhook_url": url},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and stored(settings, installer) == (None, None)


def test_local_receivers_need_the_setting(settings, installer, monkeypatch):
    public_only(monkeypatch)
    client = dashboard(settings, installer)
    assert save(client, "webhook", "http://127.0.0.1:8081/hooks").status_code == 422
    monkeypatch.setenv("MAILFLOW_WEBHOOK_ALLOW_LOCAL", "1")
    config.reset_settings()
    assert save(client, "webhook", "http://127.0.0.1:8081/hooks").status_code == 200
    assert stored(settings, installer)[0] == "http://127.0.0.1:8081/hooks"
    # Still never plain http:// to another host.
    assert save(client, "webhook", "http://crm.example.com/hooks").status_code == 422


def test_admin_sets_an_installers_webhook_audited_without_the_secret(settings, installer):
    client = signed_in_client(settings)
    url = "https://crm.example.com/mailflow"
    answer = post(
        client,
        f"/admin/installers/{installer}/webhook",
        {"action": "save", "webhook_url": url},
        page=f"/admin/installers/{installer}",
    )
    assert answer.status_code == 200
    _, secret = stored(settings, installer)
    assert secret in answer.text and url in answer.text
    assert "no-store" in answer.headers["cache-control"]
    detail = client.get(f"/admin/installers/{installer}")
    assert url in detail.text and secret not in detail.text
    with session_scope(settings) as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "installer.webhook"))
        assert entry.object_id == str(installer)
        assert entry.data == {"change": "set", "url": url, "new_secret": True}
    audit = client.get("/admin/audit?action=installer.webhook")
    assert url in audit.text and secret not in audit.text

    # A refused address, told in the admin's language; nothing changes.
    choose_language(client, "de")
    refused = post(
        client,
        f"/admin/installers/{installer}/webhook",
        {"action": "save", "webhook_url": "http://crm.example.com/x"},
        page=f"/admin/installers/{installer}",
    )
    assert refused.status_code == 303
    flashed = client.get(refused.headers["location"]).text
    assert "Die Adresse muss mit https:// beginnen." in flashed
    assert stored(settings, installer) == (url, secret)

    # Removed by the admin: audited too.
    post(
        client,
        f"/admin/installers/{installer}/webhook",
        {"action": "remove"},
        page=f"/admin/installers/{installer}",
    )
    assert stored(settings, installer) == (None, None)
    with session_scope(settings) as s:
        changes = s.scalars(
            select(AuditEntry.data).where(AuditEntry.action == "installer.webhook")
        ).all()
        assert [c["change"] for c in changes] == ["set", "removed"]


def test_a_viewer_cannot_set_a_webhook(settings, installer):
    client = signed_in_client(settings, role="viewer", email="viewer@example.com")
    answer = post(
        client,
        f"/admin/installers/{installer}/webhook",
        {"action": "save", "webhook_url": "https://crm.example.com/x"},
        page=f"/admin/installers/{installer}",
    )
    assert answer.status_code == 403
    assert stored(settings, installer) == (None, None)


# ------------------------------------------------------------------ through the jobs -------
def test_an_assigned_lead_is_delivered_by_the_send_job(settings, installer, worker):
    """The real path: the acceptance commits, its job runs on a worker, the receiver gets it."""
    with running_receiver() as receiver:
        secret = with_webhook(settings, installer, receiver.url)
        with session_scope(settings) as s:
            lead_id = make_lead(s).id
        with session_scope(settings) as s:
            assign(
                s,
                lead_id,
                installer,
                by="admin@example.com",
                reason="agreed by phone",
                now=clock.now(),
                settings=settings,
            )
        wait_for(lambda: receiver.requests)
        (row,) = deliveries(settings)
        wait_for(lambda: deliveries(settings)[0].state == OutboxState.SENT)
        (request,) = receiver.requests
        body = verified(request, secret)
        assert (body["lead_id"], body["via"]) == (lead_id, "assigned")
        assert request.headers["idempotency-key"] == row.message_id


def test_after_giving_up_a_fixed_address_gets_the_admins_retry(settings, installer, travel):
    with running_receiver() as gone:
        old_url = gone.url
    with_webhook(settings, installer, old_url)
    accepted_lead(settings, installer)
    (row,) = deliveries(settings)
    for _ in range(MAX_ATTEMPTS):
        result = deliver(row.id, settings=settings, now=clock.now())
        if result.retry_in:
            travel.shift(result.retry_in)
    assert deliveries(settings)[0].state == OutboxState.FAILED

    with running_receiver() as receiver:
        with session_scope(settings) as s:
            set_webhook(
                s.get(Installer, installer), receiver.url, now=clock.now(), allow_local=True
            )
        client = signed_in_client(settings)
        page = client.get(f"/admin/outbox/{row.id}")
        assert "Connection refused" in page.text and ">Retry<" in page.text
        answer = post(client, f"/admin/outbox/{row.id}/retry", page=f"/admin/outbox/{row.id}")
        assert answer.status_code == 303
        assert deliver(row.id, settings=settings, now=clock.now()).state == OutboxState.SENT
        assert len(receiver.requests) == 1
        (row,) = deliveries(settings)
        assert (row.state, row.to, row.attempts) == (OutboxState.SENT, receiver.url, 1)


def test_without_the_setting_a_local_address_is_never_called(settings, installer, monkeypatch):
    """An address that resolves to this machine (here: set while local addresses were allowed)
    is refused when sending, once they are not: the server never calls into its own network."""
    with running_receiver() as receiver:
        with_webhook(settings, installer, receiver.url)
        accepted_lead(settings, installer)
        (row,) = deliveries(settings)
        public_only(monkeypatch)
        result = deliver(row.id, settings=config.get_settings(), now=clock.now())
        assert result.state == OutboxState.FAILED
        assert receiver.requests == []
    (row,) = deliveries(settings)
    assert row.last_error == "127.0.0.1 is a local or private address (127.0.0.1)"
