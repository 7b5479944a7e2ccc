"""Admin sign-in under hostile conditions (issue #14): parallel guesses against the rate limit
on a real server, the slow password hash and the database's write lock, server-side sessions
(sign-out ends a copied cookie, idle timeout), and forwarded client addresses."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import time_machine
import uvicorn
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from mailflow.clock import now
from mailflow.config import reset_settings
from mailflow.db import session_scope
from mailflow.models import AdminSession
from mailflow.web.admin import users
from mailflow.web.app import create_app
from mailflow.web.server import uvicorn_config
from support.factories import make_admin
from support.people import PASSWORD
from support.waiting import free_port, wait_for
from support.web import CSRF_RE, csrf, login


@pytest.fixture
def serve(settings):
    """Start the app on a real uvicorn, configured as ``mailflow web`` configures it."""
    servers = []

    def start() -> str:
        port = free_port()
        server = uvicorn.Server(
            uvicorn_config(create_app(), settings, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for(lambda: server.started, timeout=10)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def form_of(base: str) -> tuple[dict, str]:
    """The login form's cookie and CSRF token, as a browser would have them."""
    with httpx.Client(base_url=base) as client:
        page = client.get("/admin/login")
        return dict(client.cookies), CSRF_RE.search(page.text).group(1)


def post_login(base: str, cookies: dict, token: str, email: str, password: str, **headers):
    return httpx.post(
        f"{base}/admin/login",
        data={"csrf_token": token, "email": email, "password": password},
        cookies=cookies,
        headers=headers,
        follow_redirects=False,
        timeout=60,
    )


# ------------------------------------------------------------------ the rate limit ----------
def test_parallel_guesses_get_no_more_password_checks_than_the_limit(settings, serve):
    make_admin(settings)
    base = serve()
    cookies, token = form_of(base)
    guesses = [f"guess number {i}" for i in range(80)]
    start = threading.Barrier(len(guesses))

    def attempt(password: str) -> int:
        start.wait()
        return post_login(base, cookies, token, "admin@example.com", password).status_code

    with ThreadPoolExecutor(len(guesses)) as pool:
        codes = list(pool.map(attempt, guesses))
    # 429: over the limit; 503: the database was too busy to take the attempt's slot (SQLite
    # under load) — neither checked a password.
    checked = [code for code in codes if code == 401]
    assert set(codes) <= {401, 429, 503}, codes
    # Five per account and address: never more, however many arrive at once.
    assert len(checked) <= 5, f"{len(checked)} passwords checked: {sorted(codes)}"
    assert codes.count(429) + codes.count(503) >= len(guesses) - 5
    # The right password, right after the burst, is not even checked.
    assert post_login(base, cookies, token, "admin@example.com", PASSWORD).status_code == 429


# ------------------------------------------------------------------ the slow hash -----------
def test_the_password_hash_runs_outside_any_transaction(settings, monkeypatch):
    """While argon2 works, other writers (webhooks, SMTP intake) are not kept waiting."""
    make_admin(settings)
    hashing, finish = threading.Event(), threading.Event()

    class SlowHasher(PasswordHasher):
        def verify(self, hashed, password):
            hashing.set()
            finish.wait(5)  # a slow hash: as long as the other writer below takes, up to 5 s
            return super().verify(hashed, password)

    monkeypatch.setattr(users, "hasher", SlowHasher())
    results = []
    with TestClient(create_app()) as client:
        token = csrf(client)
        signer = threading.Thread(
            target=lambda: results.append(
                client.post(
                    "/admin/login",
                    data={"csrf_token": token, "email": "admin@example.com", "password": PASSWORD},
                    follow_redirects=False,
                ).status_code
            )
        )
        signer.start()
        assert hashing.wait(10)
        began = time.monotonic()
        with session_scope(settings) as s:  # a writer, as an intake would be
            s.execute(text("UPDATE admin_users SET role = role"))
        waited = time.monotonic() - began
        finish.set()
        signer.join(10)
    assert results == [303]
    assert waited < 1.0, f"a write waited {waited:.1f} s for the sign-in's password hash"


# ------------------------------------------------------------------ sessions ----------------
def test_sign_out_ends_the_session_for_a_copied_cookie_too(settings):
    make_admin(settings)
    with TestClient(create_app()) as browser, TestClient(create_app()) as thief:
        assert login(browser).status_code == 303
        thief.cookies.update(browser.cookies)
        assert thief.get("/admin/", follow_redirects=False).status_code == 200
        token = csrf(browser, "/admin/")
        out = browser.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303
        assert thief.get("/admin/", follow_redirects=False).status_code == 303
        assert browser.get("/admin/", follow_redirects=False).status_code == 303
        with session_scope(settings) as s:
            assert s.scalar(select(func.count()).select_from(AdminSession)) == 0


def test_an_unused_session_ends_after_the_idle_timeout(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_ADMIN_SESSION_IDLE_MINUTES", "30")
    reset_settings()
    make_admin(settings)
    start = now()
    with TestClient(create_app()) as client:
        with time_machine.travel(start, tick=False):
            assert login(client).status_code == 303
        for minutes in (20, 45, 70):  # used every 25 minutes: still signed in
            with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
                assert client.get("/admin/", follow_redirects=False).status_code == 200
        with time_machine.travel(start + timedelta(minutes=101), tick=False):
            response = client.get("/admin/outbox", follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/login")
        with time_machine.travel(start + timedelta(minutes=102), tick=False):
            assert client.get("/admin/", follow_redirects=False).status_code == 303


# ------------------------------------------------------------------ client addresses --------
def test_forwarded_for_is_not_believed_unless_the_proxy_is_configured(settings, serve):
    make_admin(settings)
    base = serve()
    cookies, token = form_of(base)
    # Spraying other accounts, each time "from" another address: the address is the
    # connection's, so the per-address limit (20) stops it.
    codes = [
        post_login(
            base,
            cookies,
            token,
            f"user{i}@example.com",
            "guess",
            **{"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(25)
    ]
    assert codes.count(401) == 20 and codes.count(429) == 5, codes


def test_a_configured_proxy_is_believed(settings, serve, monkeypatch):
    monkeypatch.setenv("MAILFLOW_TRUSTED_PROXIES", "127.0.0.1")
    reset_settings()
    make_admin(settings)
    base = serve()
    cookies, token = form_of(base)
    for i in range(25):  # 25 addresses, each under its own limit
        response = post_login(
            base,
            cookies,
            token,
            f"user{i}@example.com",
            "guess",
            **{"X-Forwarded-For": f"203.0.113.{i}"},
        )
        assert response.status_code == 401
    response = post_login(
        base, cookies, token, "admin@example.com", PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}
    )
    assert response.status_code == 303
