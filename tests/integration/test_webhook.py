"""POST /api/leads: signatures, idempotency, validation (real app over httpx)."""

from __future__ import annotations

import json
import time

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mailflow.db import session_scope
from mailflow.models import InboundMessage, Lead, WebhookSignature
from mailflow.web.app import create_app
from support.mail import signed_headers
from support.paths import CORPUS
from support.web import WEBHOOK_SECRET


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


def lead_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Lead))


def post(client, body: bytes, **kw):
    return client.post(
        "/api/leads", content=body, headers=signed_headers(WEBHOOK_SECRET, body, **kw)
    )


@pytest.mark.parametrize("path", sorted((CORPUS / "webhook").glob("*.json")), ids=lambda p: p.stem)
def test_corpus_webhooks_give_expected_status(client, settings, path):
    body = path.read_bytes()
    response = post(client, body)
    if path.stem.startswith("valid_"):
        assert response.status_code == 201, response.text
        lead = client.get(
            f"/api/leads/{response.json()['id']}",
            headers={"Authorization": "Bearer test-api-token"},
        ).json()
        sent = json.loads(body)["customer"]
        assert lead["customer"]["name"] == sent["name"]
        assert lead["customer"]["postcode"] == sent["postcode"]
        assert lead["source"] == json.loads(body).get("source", "webhook")
        if lead["customer"]["phone"]:
            assert lead["customer"]["phone"].startswith("+")
    else:
        assert response.status_code == 422, response.text
        assert response.json()["errors"], response.text
        assert lead_count(settings) == 0


def test_invalid_bodies_name_the_offending_fields(client):
    errors = post(client, (CORPUS / "webhook" / "invalid_types.json").read_bytes()).json()["errors"]
    assert {"customer", "product", "details"} <= set(errors)
    errors = post(client, (CORPUS / "webhook" / "invalid_bad_email.json").read_bytes()).json()[
        "errors"
    ]
    assert "customer.email" in errors
    errors = post(client, (CORPUS / "webhook" / "invalid_no_contact.json").read_bytes()).json()[
        "errors"
    ]
    assert any("email" in msg and "phone" in msg for msg in errors.values())
    assert post(client, b"{not json").status_code == 422


def test_idempotency_key_replay_creates_one_lead(client, settings):
    body = (CORPUS / "webhook" / "valid_full.json").read_bytes()
    first = post(client, body, key="order-77")
    second = post(client, body, key="order-77")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert lead_count(settings) == 1
    # The same key with another body is a client bug, not a replay.
    other = (CORPUS / "webhook" / "valid_minimal.json").read_bytes()
    assert post(client, other, key="order-77").status_code == 409
    assert lead_count(settings) == 1


@pytest.mark.parametrize("case", ["bad_signature", "stale", "future", "missing", "other_secret"])
def test_bad_signatures_get_401_and_create_nothing(client, settings, case):
    body = (CORPUS / "webhook" / "valid_minimal.json").read_bytes()
    headers = signed_headers(WEBHOOK_SECRET, body)
    if case == "bad_signature":
        good = headers["X-Mailflow-Signature"]
        headers["X-Mailflow-Signature"] = good[:-1] + ("1" if good[-1] == "0" else "0")
    elif case == "stale":
        headers = signed_headers(WEBHOOK_SECRET, body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = signed_headers(WEBHOOK_SECRET, body, timestamp=int(time.time()) + 400)
    elif case == "missing":
        del headers["X-Mailflow-Signature"]
    elif case == "other_secret":
        headers = signed_headers("someone-else", body)
    response = client.post("/api/leads", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert lead_count(settings) == 0
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_tampered_body_is_rejected(client, settings):
    body = (CORPUS / "webhook" / "valid_minimal.json").read_bytes()
    headers = signed_headers(WEBHOOK_SECRET, body)
    response = client.post("/api/leads", content=body.replace(b"Max", b"Eve"), headers=headers)
    assert response.status_code == 401
    assert lead_count(settings) == 0


def test_same_customer_again_is_a_visible_duplicate(client, settings):
    body = (CORPUS / "webhook" / "valid_full.json").read_bytes()
    first = post(client, body).json()
    again = json.loads(body)
    again["external_id"] = "LG-2026-000999"
    second = post(client, json.dumps(again).encode()).json()
    assert second["status"] == "duplicate"
    assert second["duplicate_of"] == first["id"]
    listed = client.get(
        "/api/leads?status=duplicate", headers={"Authorization": "Bearer test-api-token"}
    ).json()
    assert [item["id"] for item in listed["items"]] == [second["id"]]


def test_verbatim_replay_with_a_fresh_idempotency_key_makes_no_second_lead(client, settings):
    """The Idempotency-Key is not signed: whoever saw one request could send it again with
    another key. The signature is remembered while its timestamp is accepted."""
    body = (CORPUS / "webhook" / "valid_full.json").read_bytes()
    headers = signed_headers(WEBHOOK_SECRET, body, key="order-1")
    first = client.post("/api/leads", content=body, headers=headers)
    assert first.status_code == 201
    for replayed_key in ("order-2", None):
        replayed = dict(headers)
        replayed.pop("Idempotency-Key")
        if replayed_key:
            replayed["Idempotency-Key"] = replayed_key
        again = client.post("/api/leads", content=body, headers=replayed)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
    assert lead_count(settings) == 1
    # The same lead signed again (a new timestamp) is a new request, as before.
    assert post(client, body, timestamp=int(time.time()) + 1).status_code == 201


def test_remembered_signatures_are_pruned_once_their_timestamp_is_refused(client, settings):
    body = (CORPUS / "webhook" / "valid_minimal.json").read_bytes()
    assert post(client, body, timestamp=int(time.time()) - 290).status_code == 201
    # That signature's timestamp is refused from 10 s on: 20 s later it is forgotten.
    with time_machine.travel(time.time() + 20, tick=False):
        other = (CORPUS / "webhook" / "valid_full.json").read_bytes()
        assert post(client, other).status_code == 201
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(WebhookSignature)) == 1
