"""The admin pages: sign-in, sessions, CSRF, roles, rate limiting, and the mail-queue monitor
with its actions (retry, cancel, re-run)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.cli import main
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import (
    AdminUser,
    ExtractionRule,
    InboundMessage,
    OutboxMessage,
    OutboxState,
    ServiceStatus,
)
from mailflow.web.admin import page_routers
from mailflow.web.admin.users import hasher
from mailflow.web.app import create_app
from support.factories import make_admin, make_inbound, make_outbox, outbox_state
from support.paths import CORPUS
from support.waiting import wait_for
from support.web import CSRF_RE, csrf, login


def make_rule(settings) -> int:
    with session_scope(settings) as s:
        rule = ExtractionRule(
            sender="@platform.example",
            locators=[{"field": "name", "kind": "prefix", "pieces": ["Name:", ""]}],
            created_by="admin@example.com",
        )
        s.add(rule)
        s.flush()
        return rule.id


def rule_sender(settings, rule_id: int) -> str | None:
    with session_scope(settings) as s:
        rule = s.get(ExtractionRule, rule_id)
        return rule.sender if rule is not None else None


def inbound_outcome(settings, inbound_id: int) -> str:
    with session_scope(settings) as s:
        return s.get(InboundMessage, inbound_id).outcome.value


def admin_paths(method: str) -> list[str]:
    """Every admin route (the app's router only holds a lazy reference to the included one)."""
    return sorted(
        r.path
        for router in page_routers()
        for r in router.routes
        if isinstance(r, APIRoute) and r.path.startswith("/admin") and method in r.methods
    )


def fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


@pytest.fixture
def app(settings):
    return create_app()


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


@pytest.fixture
def signed_in(client, settings):
    make_admin(settings)
    assert login(client).status_code == 303
    return client


@pytest.fixture
def rows(settings, broker):
    """One row in each actionable state; ids by path parameter name."""
    return {
        "failed": make_outbox(settings, "failed", last_error="550 5.1.1 mailbox unavailable"),
        "queued": make_outbox(settings, "queued", subject="Still waiting"),
        "quarantined": make_inbound(settings, "quarantined", reason="no postcode found"),
        "rule": make_rule(settings),
    }


def unchanged(settings, rows) -> bool:
    return (
        outbox_state(settings, rows["failed"]) == "failed"
        and outbox_state(settings, rows["queued"]) == "queued"
        and inbound_outcome(settings, rows["quarantined"]) == "quarantined"
        and rule_sender(settings, rows["rule"]) == "@platform.example"
    )


def action_requests(rows) -> list[tuple[str, int]]:
    return [
        (f"/admin/outbox/{rows['failed']}/retry", rows["failed"]),
        (f"/admin/outbox/{rows['failed']}/cancel", rows["failed"]),
        (f"/admin/outbox/{rows['queued']}/cancel", rows["queued"]),
        (f"/admin/inbound/{rows['quarantined']}/rerun", rows["quarantined"]),
    ]


# ------------------------------------------------------------------ signed out --------------
def test_every_admin_page_redirects_to_login_when_signed_out(app, client, settings, rows):
    paths = admin_paths("GET")
    assert {
        "/admin/",
        "/admin/outbox",
        "/admin/outbox/{outbox_id}",
        "/admin/inbound",
        "/admin/inbound/{inbound_id}",
        "/admin/inbound/{inbound_id}/raw",
        "/admin/login",
    } <= set(paths)
    ids = {"outbox_id": rows["failed"], "inbound_id": rows["quarantined"], "rule_id": rows["rule"]}
    for path in paths:
        if path == "/admin/login":
            continue
        url = fill(path, ids)
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303, (url, response.status_code)
        assert response.headers["location"].startswith("/admin/login"), url
        assert "mailbox unavailable" not in response.text and "no postcode" not in response.text
    # ... and comes back to the page asked for after signing in.
    response = client.get("/admin/outbox?state=failed", follow_redirects=False)
    assert response.headers["location"] == "/admin/login?next=/admin/outbox%3Fstate%3Dfailed"
    make_admin(settings)
    response = login(client, next="/admin/outbox?state=failed")
    assert response.headers["location"] == "/admin/outbox?state=failed"
    assert "mailbox unavailable" in client.get("/admin/outbox?state=failed").text
    # /admin without the slash lands on the monitor too.
    assert client.get("/admin").url.path == "/admin/"


def test_every_post_is_refused_when_signed_out(app, client, settings, rows):
    paths = admin_paths("POST")
    assert {
        "/admin/login",
        "/admin/logout",
        "/admin/outbox/{outbox_id}/retry",
        "/admin/outbox/{outbox_id}/cancel",
        "/admin/inbound/{inbound_id}/rerun",
    } <= set(paths)
    ids = {"outbox_id": rows["failed"], "inbound_id": rows["quarantined"], "rule_id": rows["rule"]}
    for path in paths:
        response = client.post(fill(path, ids), data={"next": "/admin/"}, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code)
    # A CSRF token of an anonymous session (from the login form) does not make an admin.
    token = csrf(client)
    for url, _ in action_requests(rows):
        response = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, url
    assert unchanged(settings, rows)


# ------------------------------------------------------------------ sign-in -----------------
def test_wrong_password_unknown_email_and_inactive_user_are_refused(client, settings):
    admin_id = make_admin(settings)
    response = login(client, password="not the password")
    assert response.status_code == 401 and "Wrong email or password" in response.text
    assert login(client, email="nobody@example.com").status_code == 401
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    with session_scope(settings) as s:
        s.get(AdminUser, admin_id).active = False
    assert login(client).status_code == 401
    with session_scope(settings) as s:
        s.get(AdminUser, admin_id).active = True
    response = login(client, email="  Admin@Example.COM ")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    with session_scope(settings) as s:
        assert s.get(AdminUser, admin_id).last_login_at is not None
    assert client.get("/admin/", follow_redirects=False).status_code == 200


def test_login_is_rate_limited(client, settings):
    make_admin(settings)
    make_admin(settings, email="other@example.com")
    for _ in range(5):
        assert login(client, password="guess").status_code == 401
    response = login(client)  # even the right password, while blocked
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0 and "Too many" in response.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    # Another account from the same address is not locked out by these failures.
    assert login(client, email="other@example.com").status_code == 303
    with time_machine.travel(now() + timedelta(minutes=16), tick=False):
        response = login(client)
        assert response.status_code == 303


def test_login_only_redirects_to_admin_pages(client, settings):
    make_admin(settings)
    for target in (
        "https://evil.example/",
        "//evil.example/admin/",
        "/api/leads",
        "/admin/logout",
        "javascript:alert(1)",
    ):
        client.cookies.clear()
        response = login(client, next=target)
        assert response.headers["location"] == "/admin/", target


def test_logout_deactivation_password_change_and_expiry_end_the_session(client, settings):
    admin_id = make_admin(settings)
    login(client)
    token = csrf(client, "/admin/")
    response = client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/admin/", follow_redirects=False).status_code == 303

    login(client)
    with session_scope(settings) as s:
        s.get(AdminUser, admin_id).password_hash = hasher.hash("a brand new password")
    assert client.get("/admin/", follow_redirects=False).status_code == 303

    login(client, password="a brand new password")
    assert client.get("/admin/", follow_redirects=False).status_code == 200
    with time_machine.travel(now() + timedelta(hours=12, minutes=1), tick=False):
        assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_session_cookie_and_security_headers(client, settings):
    make_admin(settings)
    response = login(client)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("mailflow_admin=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie
    assert "max-age=43200" in cookie
    for path in ("/admin/login", "/admin/", "/admin/outbox", "/admin/inbound"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "style-src 'self' 'unsafe-inline'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
    assert "content-security-policy" not in client.get("/healthz").headers


# ------------------------------------------------------------------ CSRF and roles ----------
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_posts_without_a_valid_csrf_token_are_refused(signed_in, settings, rows, token):
    data = {"next": "/admin/"} if token is None else {"csrf_token": token, "next": "/admin/"}
    for url, _ in action_requests(rows):
        response = signed_in.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, url
    response = signed_in.post("/admin/logout", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert unchanged(settings, rows)
    assert signed_in.get("/admin/", follow_redirects=False).status_code == 200  # still signed in


def test_viewer_sees_everything_but_every_action_is_refused(app, client, settings, rows):
    make_admin(settings, email="viewer@example.com", role="viewer")
    assert login(client, email="viewer@example.com").status_code == 303
    ids = {"outbox_id": rows["failed"], "inbound_id": rows["quarantined"], "rule_id": rows["rule"]}
    for path in admin_paths("GET"):
        if path == "/admin/login":
            continue
        # Raw sources and decoded texts are for admins only (where tokens could hide).
        expected = 403 if path.endswith(("/raw", "/read")) else 200
        assert client.get(fill(path, ids)).status_code == expected, path
    page = client.get("/admin/").text
    assert "550 5.1.1 mailbox unavailable" in page and "read-only" in page
    assert "/retry" not in page and "/cancel" not in page
    token = csrf(client, "/admin/")
    action_routes = [p for p in admin_paths("POST") if p not in ("/admin/login", "/admin/logout")]
    assert len(action_routes) == 7
    for path in action_routes:
        for outbox_id in (rows["failed"], rows["queued"]):
            url = fill(path, {**ids, "outbox_id": outbox_id})
            response = client.post(
                url, data={"csrf_token": token, "next": "/admin/"}, follow_redirects=False
            )
            assert response.status_code == 403, url
            assert "read-only" in response.text
    assert unchanged(settings, rows)


# ------------------------------------------------------------------ actions -----------------
def test_retry_moves_a_failed_message_back_to_the_queue(signed_in, settings, rows, broker):
    token = csrf(signed_in, "/admin/")
    response = signed_in.post(
        f"/admin/outbox/{rows['failed']}/retry",
        data={"csrf_token": token, "next": "/admin/"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    with session_scope(settings) as s:
        row = s.get(OutboxMessage, rows["failed"])
        assert row.state == OutboxState.QUEUED and row.attempts == 0
    assert broker.queues["outbound"].qsize() == 1  # the send is enqueued after commit
    page = signed_in.get("/admin/").text
    assert f"Message #{rows['failed']} to installer@example.com is queued again." in page
    assert "queued again" not in signed_in.get("/admin/").text  # a flash is shown once
    # A second retry is refused with a message, and nothing changes.
    response = signed_in.post(
        f"/admin/outbox/{rows['failed']}/retry", data={"csrf_token": token}, follow_redirects=True
    )
    assert "only failed or cancelled messages can be retried" in response.text
    assert response.url.path == f"/admin/outbox/{rows['failed']}"


def test_cancel_moves_a_queued_message_to_cancelled(signed_in, settings, rows):
    token = csrf(signed_in, "/admin/")
    response = signed_in.post(
        f"/admin/outbox/{rows['queued']}/cancel",
        data={"csrf_token": token, "next": "/admin/outbox?state=queued"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/outbox?state=queued"
    assert outbox_state(settings, rows["queued"]) == "cancelled"
    page = signed_in.get(response.headers["location"]).text
    assert "is cancelled: it will not be sent" in page
    # An open redirect through "next" is not possible.
    response = signed_in.post(
        f"/admin/outbox/{rows['failed']}/cancel",
        data={"csrf_token": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/admin/outbox/{rows['failed']}"
    assert outbox_state(settings, rows["failed"]) == "cancelled"


def test_missing_rows_are_404(signed_in, settings):
    token = csrf(signed_in, "/admin/")
    assert signed_in.get("/admin/outbox/999").status_code == 404
    assert signed_in.get("/admin/inbound/999").status_code == 404
    assert signed_in.get("/admin/inbound/999/raw").status_code == 404
    for url in ("/admin/outbox/999/retry", "/admin/outbox/999/cancel", "/admin/inbound/999/rerun"):
        assert signed_in.post(url, data={"csrf_token": token}).status_code == 404


def test_rerun_processes_a_quarantined_message_again(signed_in, settings, worker):
    raw = (CORPUS / "leads" / "qcells_fr_tabs.eml").read_bytes()
    inbound_id = make_inbound(settings, "quarantined", raw=raw, reason="parser bug (fixed since)")
    page = signed_in.get(f"/admin/inbound/{inbound_id}").text
    assert "Re-run" in page and "parser bug (fixed since)" in page
    token = CSRF_RE.search(page).group(1)
    response = signed_in.post(
        f"/admin/inbound/{inbound_id}/rerun",
        data={"csrf_token": token, "next": f"/admin/inbound/{inbound_id}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    wait_for(lambda: inbound_outcome(settings, inbound_id) == "lead")
    with session_scope(settings) as s:
        row = s.get(InboundMessage, inbound_id)
        assert row.lead_id is not None and row.reason is None
    page = signed_in.get(f"/admin/inbound/{inbound_id}").text
    assert "will be processed again" in page and "Re-run" not in page
    # Only quarantined messages can be re-run.
    response = signed_in.post(f"/admin/inbound/{inbound_id}/rerun", data={"csrf_token": token})
    assert "only quarantined messages" in response.text
    assert inbound_outcome(settings, inbound_id) == "lead"


# ------------------------------------------------------------------ pages -------------------
def test_preview_escapes_the_html_part_in_a_sandboxed_iframe(signed_in, settings):
    evil = (
        '<p class="x">Bonjour "vous" & \'toi\'</p><script>alert(1)</script>'
        '<img src="https://tracker.example/p.gif">'
    )
    outbox_id = make_outbox(
        settings,
        "sent",
        subject="<b>Subject</b> & co",
        body_html=evil,
        sent_ago=timedelta(minutes=1),
    )
    page = signed_in.get(f"/admin/outbox/{outbox_id}").text
    iframe = re.search(r"<iframe[^>]*>", page).group(0)
    assert re.search(r'\ssandbox=""', iframe)
    srcdoc = re.search(r'srcdoc="([^"]*)"', iframe).group(1)
    assert (
        "<" not in srcdoc
        and '"' not in srcdoc
        and "'" not in html.unescape(srcdoc).replace("'toi'", "")
    )
    assert html.unescape(srcdoc) == evil
    assert "<script>alert(1)</script>" not in page
    assert "&lt;b&gt;Subject&lt;/b&gt; &amp; co" in page and "<b>Subject</b>" not in page
    # Headers, the text part and the raw MIME source are shown too.
    assert "Auto-Submitted" in page and "un nouveau lead vous attend." in page
    assert "Content-Type: multipart/alternative" in page and "MIME-Version: 1.0" in page


def test_monitor_shows_counts_ages_rate_failures_queues_and_imap(signed_in, settings, worker):
    make_outbox(settings, "queued", created_ago=timedelta(hours=2, minutes=5))
    make_outbox(settings, "queued")
    make_outbox(settings, "failed", last_error="550 5.1.1 <gone@example.com>: no such user")
    for _ in range(3):
        make_outbox(settings, "sent", sent_ago=timedelta(minutes=3))
    make_outbox(settings, "sent", sent_ago=timedelta(minutes=30))
    make_outbox(settings, "bounced", last_error="bounce: 5.1.1")
    make_inbound(settings, "quarantined", reason="no postcode <found>")
    make_inbound(settings, "lead")
    page = signed_in.get("/admin/").text
    counts = dict(
        re.findall(r'<div class="label">(\w+)</div>\s*<div class="value">(\d+)</div>', page)
    )
    assert counts == {
        "queued": "2",
        "sending": "0",
        "sent": "4",
        "failed": "1",
        "bounced": "1",
        "cancelled": "0",
        "pending": "0",
        "lead": "1",
        "duplicate": "0",
        "bounce": "0",
        "reply": "0",
        "quarantined": "1",
    }
    assert "oldest 2 h 5 min ago" in page
    assert "0.3<" in page and "3 sent in the last 10 min" in page
    assert "550 5.1.1 &lt;gone@example.com&gt;: no such user" in page
    assert "no postcode &lt;found&gt;" in page
    assert re.search(r"<td>outbound</td>", page) and re.search(r"<td>inbound</td>", page)
    assert "not configured" in page
    with session_scope(settings) as s:
        s.add(
            ServiceStatus(
                name="imap",
                data={
                    "connected": False,
                    "last_successful_poll": "2026-11-20T09:14:03Z",
                    "last_error": "LOGIN failed <auth>",
                    "password": "hunter2",
                },
            )
        )
    page = signed_in.get("/admin/").text
    assert "not configured" not in page and "disconnected" in page
    assert "2026-11-20 10:14 CET" in page and "LOGIN failed &lt;auth&gt;" in page
    assert "hunter2" not in page
    # The outbox list filters by state; an unknown state is a 400.
    listing = signed_in.get("/admin/outbox?state=failed").text
    assert "no such user" in listing and "bounce: 5.1.1" not in listing
    assert signed_in.get("/admin/outbox?state=nope").status_code == 400


def test_inbound_list_filter_detail_and_raw_download(signed_in, settings):
    raw = (
        b"From: Someone <a@example.org>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\r\n"
        b"<script>alert(1)</script> broken \xff\xfe bytes\r\n"
    )
    quarantined = make_inbound(
        settings,
        "quarantined",
        raw=raw,
        reason="no customer name",
        parsed={"kind": "quarantine", "labels": ["PLZ", "<E-Mail>"]},
    )
    lead = make_inbound(settings, "lead", reason=None)
    listing = signed_in.get("/admin/inbound?outcome=quarantined").text
    assert f'href="/admin/inbound/{quarantined}"' in listing
    assert f'href="/admin/inbound/{lead}"' not in listing
    assert f'href="/admin/inbound/{lead}"' in signed_in.get("/admin/inbound").text
    assert signed_in.get("/admin/inbound?outcome=bogus").status_code == 400

    page = signed_in.get(f"/admin/inbound/{quarantined}").text
    assert "no customer name" in page and "Café" in page
    assert "&#34;&lt;E-Mail&gt;&#34;" in page or "&quot;&lt;E-Mail&gt;&quot;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broken \ufffd\ufffd bytes" in page
    assert "<script>" not in page
    assert f'href="/admin/inbound/{quarantined}/raw"' in page

    response = signed_in.get(f"/admin/inbound/{quarantined}/raw")
    assert response.status_code == 200 and response.content == raw
    assert response.headers["content-type"].startswith("message/rfc822")
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="inbound-{quarantined}.eml"'
    )


def test_huge_raw_messages_are_truncated_on_the_page(signed_in, settings):
    raw = b"Subject: big\r\n\r\n" + b"x" * 1_000_000 + b"THE-END"
    inbound_id = make_inbound(settings, "quarantined", raw=raw, reason="too big to parse")
    page = signed_in.get(f"/admin/inbound/{inbound_id}").text
    assert "Only the first" in page and "THE-END" not in page and len(page) < 400_000
    assert signed_in.get(f"/admin/inbound/{inbound_id}/raw").content.endswith(b"THE-END")


# ------------------------------------------------------------------ CLI ---------------------
def test_cli_admin_create(settings):
    runner = CliRunner()
    result = runner.invoke(
        main, ["admin", "create", "Ops@Example.com", "--password", "a long enough password"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        ["admin", "create", "viewer@example.com", "--role", "viewer"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    with session_scope(settings) as s:
        users = {u.email: u for u in s.scalars(select(AdminUser))}
    assert users["ops@example.com"].role == "admin"
    assert hasher.verify(users["ops@example.com"].password_hash, "a long enough password")
    assert users["viewer@example.com"].role == "viewer"
    assert hasher.verify(users["viewer@example.com"].password_hash, "prompted password")
    assert "a long enough password" not in users["ops@example.com"].password_hash

    again = runner.invoke(main, ["admin", "create", "ops@example.com", "--password", "x" * 12])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(main, ["admin", "create", "new@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least" in short.output
    mismatch = runner.invoke(
        main,
        ["admin", "create", "new@example.com"],
        input="first password\nsecond password\nfirst password\nfirst password\n",
    )
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output

    with TestClient(create_app()) as client:
        assert (
            login(client, email="ops@example.com", password="a long enough password").status_code
            == 303
        )
