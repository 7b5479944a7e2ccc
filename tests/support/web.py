"""Signing in to the admin console and posting its forms with a CSRF token; the API token and
webhook secret the ``settings`` fixture configures."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from mailflow.web import csrf as web_csrf
from mailflow.web.app import create_app
from support.factories import make_admin
from support.people import PASSWORD

API_TOKEN = "test-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
WEBHOOK_SECRET = "test-webhook-secret"

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, path: str = "/admin/login") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return CSRF_RE.search(response.text).group(1)


def login(client: TestClient, email: str = "admin@example.com", password: str = PASSWORD, **extra):
    token = csrf(client)
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "email": email, "password": password, **extra},
        follow_redirects=False,
    )


def signed_in_client(settings, role: str = "admin", email: str = "admin@example.com"):
    make_admin(settings, email=email, role=role)
    client = TestClient(create_app())
    assert login(client, email=email, password=PASSWORD).status_code == 303
    return client


def post(client: TestClient, url: str, data: dict | None = None, files=None, page: str = ""):
    token = csrf(client, page or "/admin/pipeline")
    return client.post(
        url, data={"csrf_token": token, **(data or {})}, files=files, follow_redirects=False
    )


def choose_language(client: TestClient, language: str) -> None:
    """The signed-in admin picks the console's language under Your preferences."""
    response = post(client, "/admin/preferences", {"language": language}, page="/admin/preferences")
    assert response.status_code == 303, response.text


def csrf_cookie(token: str) -> dict[str, str]:
    """A valid signed double-submit cookie for ``token``, for posting to a link page without
    opening it first (an expired or tampered link shows no form)."""
    return {web_csrf.COOKIE: web_csrf.cookie_value(token)}
