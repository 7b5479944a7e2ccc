"""Request bodies are bounded while they stream: 413 before a handler parses or stores them
(JSON for the API, a short page for forms), per route limits (webhook, documents, imports, other
forms). The same limits against a real server with real sockets: tests/e2e/test_http_server.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mailflow.db import session_scope
from mailflow.models import InboundMessage
from mailflow.web.app import create_app
from mailflow.web.limits import body_limit
from support.mail import signed_headers
from support.web import WEBHOOK_SECRET

MB = 1024 * 1024


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


def chunks(total: int, size: int = 64 * 1024):
    """A body without Content-Length (chunked), ``total`` bytes in all."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"x" * piece


def inbound_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(InboundMessage))


def test_each_route_has_its_own_limit(settings):
    assert body_limit(settings, "/api/leads") == 256 * 1024
    assert body_limit(settings, "/admin/leads/12/documents") > 10 * MB
    assert body_limit(settings, "/admin/leads/12/documents") < 11 * MB
    assert body_limit(settings, "/admin/leads/import") > 20 * MB
    assert body_limit(settings, "/admin/installers/import") > 20 * MB
    assert body_limit(settings, "/l/accept/abc") == MB
    assert body_limit(settings, "/dashboard/signin") == MB


def test_webhook_with_a_large_declared_length_is_refused_before_reading(client, settings):
    body = b"{" + b" " * (300 * 1024) + b"}"
    response = client.post("/api/leads", content=body, headers=signed_headers(WEBHOOK_SECRET, body))
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large: at most 256 KB"}
    assert response.headers["connection"] == "close"
    assert inbound_count(settings) == 0


def test_webhook_with_a_large_chunked_body_is_refused(client, settings):
    headers = signed_headers(WEBHOOK_SECRET, b"irrelevant")
    response = client.post("/api/leads", content=chunks(2 * MB), headers=headers)
    assert response.status_code == 413
    assert "256 KB" in response.json()["detail"]
    assert inbound_count(settings) == 0


def test_webhook_just_under_the_limit_is_read(client):
    body = b'{"customer": {"name": "Max", "phone": "+49 30 1234567"}, "message": "%s"}' % (
        b"a" * (200 * 1024)
    )
    response = client.post("/api/leads", content=body, headers=signed_headers(WEBHOOK_SECRET, body))
    assert response.status_code != 413, response.text


def test_a_large_form_gets_a_short_page(client):
    response = client.post(
        "/l/accept/some-token",
        content=chunks(3 * MB),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/html",
            "Accept-Language": "fr",
        },
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Envoi trop volumineux</h1>" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_a_multipart_sign_in_form_over_the_limit_is_refused(client):
    response = client.post(
        "/dashboard/signin",
        files={"file": ("a.bin", b"z" * (2 * MB))},
        data={"email": "a@example.fr"},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "path, size, expected",
    [
        ("/admin/leads/1/documents", 9 * MB, 403),  # within the document limit: admin decides
        ("/admin/leads/1/documents", 11 * MB, 413),
        ("/admin/leads/import", 15 * MB, 403),
        ("/admin/installers/import", 21 * MB, 413),
        ("/admin/login", 2 * MB, 413),
    ],
)
def test_uploads_have_larger_limits_than_forms(client, path, size, expected):
    response = client.post(
        path,
        content=b"x" * size,
        headers={"Content-Type": "multipart/form-data; boundary=zz", "Accept": "text/html"},
    )
    assert response.status_code == expected
