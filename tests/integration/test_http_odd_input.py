"""Odd input to the public endpoints gets a 4xx, never a 500: non-ASCII secrets (CSRF fields,
bearer tokens, webhook signatures), deeply nested JSON, and arbitrary bytes and headers
(Hypothesis)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mailflow.web.app import create_app
from support.mail import signed_headers
from support.web import WEBHOOK_SECRET, csrf, csrf_cookie


@pytest.fixture
def client(settings):
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def test_non_ascii_bearer_token_is_a_401(client):
    response = client.get("/api/leads", headers={"Authorization": "Bearer tëst-api-tökén".encode()})
    assert response.status_code == 401


def test_non_ascii_webhook_signature_is_a_401(client):
    body = b'{"customer": {"name": "Max", "phone": "+49 30 1234567"}}'
    headers = signed_headers(WEBHOOK_SECRET, body)
    headers["X-Mailflow-Signature"] = "sha256=é€".encode()
    response = client.post("/api/leads", content=body, headers=headers)
    assert response.status_code == 401


def test_non_ascii_csrf_field_on_a_link_page_is_a_403(client):
    client.cookies.update(csrf_cookie("abc"))
    response = client.post("/l/accept/some-token", data={"csrf_token": "é"})
    assert response.status_code == 403


def test_non_ascii_csrf_field_on_sign_in_is_a_403(client):
    page = client.get("/dashboard/signin")
    assert page.status_code == 200
    response = client.post("/dashboard/signin", data={"csrf_token": "ünïcode", "email": "a@b.fr"})
    assert response.status_code == 403


def test_deeply_nested_json_is_a_422(client):
    body = b"[" * 100_000 + b"]" * 100_000
    assert len(body) < 256 * 1024
    response = client.post("/api/leads", content=body, headers=signed_headers(WEBHOOK_SECRET, body))
    assert response.status_code == 422
    assert response.json()["detail"] == "body is not valid JSON"


# Header values as a client may send them: any byte but CR, LF and NUL (which HTTP itself
# forbids, so the server never sees them).
header_values = st.binary(max_size=60).filter(lambda b: not set(b) & {0, 10, 13})
ENDPOINTS = [
    ("POST", "/api/leads"),
    ("GET", "/api/leads"),
    ("GET", "/api/leads/1"),
    ("GET", "/l/accept/x"),
    ("POST", "/l/accept/x"),
    ("POST", "/l/decline/x"),
    ("GET", "/dashboard/signin"),
    ("POST", "/dashboard/signin"),
    ("POST", "/l/survey/x"),
    ("POST", "/l/signin/x"),
    ("POST", "/l/vacation/x"),
    ("POST", "/l/status/x"),
    ("GET", "/healthz"),
]


# Values shaped like what the endpoints look for, with any characters inside.
odd_text = st.text(st.characters(max_codepoint=0x2FF, exclude_characters="\r\n\x00"), max_size=30)
shaped_headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.one_of(
            header_values, odd_text.map(lambda t: b"Bearer " + t.encode("latin-1", "replace"))
        ),
        "X-Mailflow-Signature": st.one_of(
            header_values, odd_text.map(lambda t: b"sha256=" + t.encode("latin-1", "replace"))
        ),
        "X-Mailflow-Timestamp": header_values,
        "Idempotency-Key": header_values,
        "Cookie": st.one_of(
            header_values,
            odd_text.map(
                lambda t: b"mf_csrf=%s; mailflow_admin=%s" % ((t.encode("latin-1", "replace"),) * 2)
            ),
        ),
        "Accept": st.sampled_from([b"text/html", b"application/json", b"*/*"]),
        "Accept-Language": header_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=2000),
    st.dictionaries(
        st.sampled_from(["csrf_token", "email", "next", "reason", "status"]), odd_text
    ).map(lambda fields: urlencode(fields).encode()),
)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies,
    content_type=st.sampled_from(
        [
            b"application/json",
            b"application/x-www-form-urlencoded",
            b"multipart/form-data; boundary=xyz",
            b"multipart/form-data",
            b"text/plain",
        ]
    ),
    headers=shaped_headers,
    signed=st.booleans(),
)
def test_public_endpoints_never_answer_500(client, endpoint, body, content_type, headers, signed):
    method, path = endpoint
    sent = {"Content-Type": content_type, **headers}
    if signed and method == "POST":
        sent.update(signed_headers(WEBHOOK_SECRET, body))  # gets past the signature to the parsing
    response = client.request(method, path, content=body, headers=sent)
    assert response.status_code < 500 or response.status_code == 503, (
        response.status_code,
        response.text[:300],
    )


def test_admin_form_with_a_non_ascii_csrf_field_is_refused_not_a_crash(settings):
    with TestClient(create_app()) as client:
        csrf(client)  # a session holding a CSRF token
        response = client.post(
            "/admin/login",
            data={"csrf_token": "jéton‽", "email": "admin@example.com", "password": "x"},
            follow_redirects=False,
        )
    assert response.status_code == 403
