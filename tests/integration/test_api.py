"""The JSON read API behind the bearer token, and /healthz."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import time_machine
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from mailflow import config as mf_config
from mailflow import db as mf_db
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.installers.io import import_installers
from mailflow.models import Installer, Lead, LeadStatus
from mailflow.web.app import create_app
from mailflow.web.csrf import COOKIE, with_cookie
from support.database import use_postgres
from support.mail import signed_headers
from support.paths import CORPUS
from support.waiting import free_port
from support.web import AUTH


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


def make_lead(client, name: str, postcode: str, email: str, **extra) -> int:
    body = json.dumps(
        {"customer": {"name": name, "email": email, "postcode": postcode, "country": "FR"}, **extra}
    ).encode()
    response = client.post(
        "/api/leads", content=body, headers=signed_headers("test-webhook-secret", body)
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path", ["/api/leads", "/api/leads/1", "/api/inbound", "/api/outbox", "/api/installers"]
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic dGVzdA==", "test-api-token"])
def test_read_api_needs_the_bearer_token(client, path, auth):
    headers = {"Authorization": auth} if auth else {}
    assert client.get(path, headers=headers).status_code == 401


def test_lead_filters_and_pagination(client, settings):
    with time_machine.travel(now() - timedelta(days=3), tick=False):
        old = make_lead(client, "Old Lead", "69001", "old@example.fr", source="calculator")
    paris = [make_lead(client, f"Paris {i}", f"7501{i}", f"p{i}@example.fr") for i in range(3)]
    everything = client.get("/api/leads", headers=AUTH).json()
    assert everything["total"] == 4
    assert [i["id"] for i in everything["items"]] == [*reversed(paris), old]  # newest first
    by_prefix = client.get("/api/leads?postcode=750", headers=AUTH).json()
    assert by_prefix["total"] == 3
    page = client.get("/api/leads?postcode=750&limit=2&offset=2", headers=AUTH).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [paris[0]]
    assert client.get("/api/leads?source=calculator", headers=AUTH).json()["total"] == 1
    assert client.get("/api/leads?status=new", headers=AUTH).json()["total"] == 4
    assert client.get("/api/leads?status=bogus", headers=AUTH).status_code == 422
    since = (now() - timedelta(days=1)).isoformat()
    assert (
        client.get("/api/leads", params={"created_from": since}, headers=AUTH).json()["total"] == 3
    )

    import_installers(CORPUS / "installers.csv", settings)
    with session_scope(settings) as s:
        installer = s.query(Installer).filter_by(email="contact@soleil-paris.example").one()
        lead = s.get(Lead, paris[1])
        lead.assigned_installer_id = installer.id
        lead.status = LeadStatus.ACCEPTED
    mine = client.get("/api/leads?installer=contact@soleil-paris.example", headers=AUTH).json()
    assert [i["id"] for i in mine["items"]] == [paris[1]]
    assert mine["items"][0]["assigned_to"] == "contact@soleil-paris.example"
    installers = {
        i["email"]: i for i in client.get("/api/installers", headers=AUTH).json()["items"]
    }
    assert installers["contact@soleil-paris.example"]["open_leads"] == 1
    assert installers["devis@ile-de-france-pv.example"]["open_leads"] == 0
    assert installers["contact@soleil-paris.example"]["tier"] == "gold"


def test_lead_detail_shape(client):
    lead_id = make_lead(client, "Élodie Garnier", "69007", "e@example.fr", product="heat_pump")
    lead = client.get(f"/api/leads/{lead_id}", headers=AUTH).json()
    assert set(lead) >= {
        "id",
        "status",
        "source",
        "external_id",
        "duplicate_of",
        "product",
        "customer",
        "details",
        "assigned_to",
        "offers",
        "events",
    }
    assert set(lead["customer"]) >= {
        "name",
        "email",
        "phone",
        "street",
        "postcode",
        "city",
        "country",
        "language",
    }
    assert lead["customer"]["name"] == "Élodie Garnier"
    event = lead["events"][0]
    assert event["type"] == "intake" and event["actor"] == "system"
    assert event["at"].endswith("Z")
    assert client.get("/api/leads/999999", headers=AUTH).status_code == 404


def test_inbound_list_by_outcome(client):
    make_lead(client, "A", "75001", "a@example.fr")
    bad = b'{"customer": {"name": "B", "postcode": "75001"}}'
    client.post("/api/leads", content=bad, headers=signed_headers("test-webhook-secret", bad))
    items = client.get("/api/inbound", headers=AUTH).json()["items"]
    assert [(i["channel"], i["outcome"]) for i in items] == [("webhook", "lead")]
    assert client.get("/api/inbound?outcome=quarantined", headers=AUTH).json()["items"] == []


def test_read_api_answers_are_not_cached(client):
    make_lead(client, "Anne Cache", "75011", "anne@example.fr")
    for path in ("/api/leads", "/api/leads/1", "/api/inbound", "/api/outbox", "/api/installers"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path


def test_healthz_during_an_outage_names_no_host_or_driver_error(settings, monkeypatch, caplog):
    port = free_port()
    monkeypatch.setenv(
        "MAILFLOW_DATABASE_URL",
        f"postgresql+psycopg://mailflow@127.0.0.1:{port}/mailflow"
        if use_postgres()
        else f"sqlite:///{settings.data_path / 'missing' / 'mailflow.db'}",
    )
    mf_config.reset_settings()
    mf_db.dispose_engines()
    caplog.set_level(logging.WARNING)
    try:
        response = TestClient(create_app()).get("/healthz")
    finally:
        monkeypatch.undo()
        mf_config.reset_settings()
        mf_db.dispose_engines()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert response.headers["retry-after"]
    assert str(port) not in response.text and "127.0.0.1" not in response.text
    assert any("healthz answered unavailable" in r.getMessage() for r in caplog.records)


def test_link_csrf_cookie_is_secure_when_the_site_is_https(settings, monkeypatch):
    plain = with_cookie(HTMLResponse("x"), "token").headers["set-cookie"]
    assert plain.startswith(COOKIE) and "Secure" not in plain
    monkeypatch.setenv("MAILFLOW_BASE_URL", "https://leads.example.com")
    mf_config.reset_settings()
    secure = with_cookie(HTMLResponse("x"), "token").headers["set-cookie"]
    assert "Secure" in secure and "HttpOnly" in secure and "SameSite=strict" in secure
