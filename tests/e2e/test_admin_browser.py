"""The admin pages in a real browser (headless Chromium through Playwright) against a real
uvicorn server, with a Dramatiq worker running the actors: sign in through the form, see the
failure, retry it, watch it get sent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import OutboxMessage
from mailflow.web.app import create_app
from support.factories import make_admin, make_inbound, make_outbox, outbox_state
from support.paths import REPO
from support.people import PASSWORD
from support.waiting import free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium)"
)


@pytest.fixture
def server(settings, worker):
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_sign_in_see_the_failure_retry_it_and_watch_it_get_sent(server, browser, settings):
    make_admin(settings, email="ops@example.com")
    for minutes in (2, 4, 7):
        make_outbox(
            settings,
            "sent",
            subject="Nouveau lead : pompe à chaleur, 69003",
            created_ago=timedelta(minutes=minutes + 1),
            sent_ago=timedelta(minutes=minutes),
        )
    waiting = make_outbox(
        settings,
        "queued",
        subject="Rappel : lead en attente",
        to="slow@example.net",
        created_ago=timedelta(minutes=12),
    )
    with session_scope(settings) as s:  # in backoff after a temporary failure: not due yet
        row = s.get(OutboxMessage, waiting)
        row.attempts, row.next_attempt_at = 2, now() + timedelta(minutes=10)
        row.last_error = "451 4.7.1 Greylisted, please try again later"
    make_inbound(settings, "quarantined", reason="no postcode found in the message")
    failed = make_outbox(
        settings,
        "failed",
        subject="Nouveau lead à Paris 75010",
        to="contact@soleil-paris.example",
        last_error="550 5.1.1 <contact@soleil-paris.example>: "
        "Recipient address rejected: User unknown",
    )

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # Signed out, the monitor sends us to the login form, which brings us back afterwards.
    page.goto(server + "/admin/")
    assert page.url.startswith(server + "/admin/login")
    page.fill("#email", "ops@example.com")
    page.fill("#password", "wrong password")
    page.click("form[action='/admin/login'] button[type=submit]")
    assert "Wrong email or password" in page.content()
    page.fill("#password", PASSWORD)
    page.click("form[action='/admin/login'] button[type=submit]")
    page.wait_for_url(server + "/admin/")

    # The inline <style> is allowed by the CSP (the header is dark, not unstyled).
    assert (
        page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
        == "rgb(36, 41, 47)"
    )
    failures = page.locator("section", has=page.locator("#failures-h"))
    row = failures.locator("tr", has=page.locator(f"a[href='/admin/outbox/{failed}']"))
    assert "User unknown" in row.inner_text()
    assert "contact@soleil-paris.example" in row.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-queue-failure.png"), full_page=True)

    row.get_by_role("button", name="Retry").click()
    page.wait_for_url(server + "/admin/")
    assert (
        f"Message #{failed} to contact@soleil-paris.example is queued again."
        in page.locator(".flash").inner_text()
    )

    # The worker sends it to the Maildir; reload until the page says so (bounded).
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{server}/admin/outbox/{failed}")
        badge = page.locator("h1 .badge").inner_text()
        if badge == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert badge == "sent", outbox_state(settings, failed)
    assert list((settings.data_path / "outbox" / "new").iterdir())

    # The HTML part renders inside the sandboxed iframe (the CSP does not block srcdoc).
    assert page.frame_locator("iframe.preview").locator("p").inner_text() == "Bonjour"
    page.locator("iframe.preview").scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let the out-of-process iframe paint before the screenshot
    page.screenshot(path=str(ARTIFACTS / "admin-outbox-preview.png"), full_page=True)

    page.goto(server + "/admin/")
    sent_card = page.locator("a.card", has=page.locator(".label", has_text="sent")).first
    assert sent_card.locator(".value").inner_text() == "4"
    assert (
        "No failed messages."
        in page.locator("section", has=page.locator("#failures-h")).inner_text()
    )
    assert outbox_state(settings, waiting) == "queued"
    page.screenshot(path=str(ARTIFACTS / "admin-queue.png"), full_page=True)

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(server + "/admin/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways page
    phone.screenshot(path=str(ARTIFACTS / "admin-queue-phone.png"), full_page=True)

    assert not [e for e in errors if "Content Security Policy" in e], errors
