"""Status links from the emails: every step, refused steps, released leads, GET is harmless."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient

from mailflow.models import LeadStatus
from mailflow.web.app import create_app
from support.lifecycle import accepted_lead
from support.mail import STEP_LINK, email_links
from support.offers import csrf_of, lead
from support.web import csrf_cookie

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


def page_links(html: str) -> dict[str, str]:
    return {label.strip(): url.split("127.0.0.1:8000")[1] for url, label in STEP_LINK.findall(html)}


def record(client, path: str, **fields):
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_of(page.text), **fields})


@time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=True)
def test_whole_progress_through_links(settings, worker, client):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    links = email_links(settings)
    assert set(links) == {
        "Contact tenté",
        "Premier contact établi",
        "Devis envoyé",
        "Commande passée",
        "Échec : le client ne souhaite pas continuer",
        "Me le rappeler plus tard",
        "Rendre le lead",
        "Planifier une visite technique",
    }
    before = lead(settings, lead_id)
    assert client.get(links["Devis envoyé"]).status_code == 200
    assert lead(settings, lead_id).status == before.status  # GET changed nothing

    done = record(client, links["Contact tenté"])
    assert (
        done.status_code == 200 and lead(settings, lead_id).status == LeadStatus.CONTACT_ATTEMPTED
    )
    # The same link works again while the lead is theirs (a second attempt to reach them).
    assert record(client, links["Contact tenté"]).status_code == 200
    missing = record(client, links["Devis envoyé"])
    # The French page says what is wrong in French, never the English code.
    assert missing.status_code == 422 and "Obligatoire." in missing.text
    assert "required" not in missing.text
    quoted = record(
        client,
        links["Devis envoyé"],
        amount="12 500,50",
        currency="eur",
        approved="yes",
        products="16 × Q.PEAK DUO, onduleur",
    )
    assert quoted.status_code == 200
    got = lead(settings, lead_id)
    assert got.status == LeadStatus.QUOTE_SENT
    assert got.progress["quote"] == {
        "amount": 12500.5,
        "currency": "EUR",
        "approved": True,
        "products": "16 × Q.PEAK DUO, onduleur",
    }
    assert [e.data.get("status") for e in got.events if e.type == "status"] == [
        "contact_attempted",
        "contact_attempted",
        "quote_sent",
    ]
    # A step the table refuses from here: a clear page, nothing changes.
    refused = client.get(links["Premier contact établi"])
    assert refused.status_code == 409 and "<h1>" in refused.text
    # The saved page offers the next steps: order placed → installation scheduled → installed.
    following = page_links(quoted.text)
    ordered = record(client, following["Commande passée"])
    scheduled = record(
        client, page_links(ordered.text)["Installation planifiée"], date="2027-01-15"
    )
    assert lead(settings, lead_id).progress["installation_date"] == "2027-01-15"
    installed = record(client, page_links(scheduled.text)["Installé"])
    assert installed.status_code == 200
    assert lead(settings, lead_id).status == LeadStatus.INSTALLED


@time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=True)
def test_a_released_lead_s_links_stop_working(settings, worker, client):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    links = email_links(settings)
    # Giving the lead back cannot be undone: without the confirmation box nothing happens.
    unconfirmed = record(client, links["Rendre le lead"], reason="no time")
    assert unconfirmed.status_code == 422 and "Cochez" in unconfirmed.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    released = record(client, links["Rendre le lead"], reason="no time", confirm="yes")
    assert released.status_code == 200
    got = lead(settings, lead_id)
    assert got.assigned_installer_id is None and got.status == LeadStatus.OFFERED
    for path in links.values():
        response = client.get(path)
        assert response.status_code == 409 and "plus à vous" in response.text
    assert (
        client.post(
            links["Contact tenté"], data={"csrf_token": "x"}, cookies=csrf_cookie("x")
        ).status_code
        == 409
    )
