"""Learning a sender's format in a real browser (headless Chromium through Playwright) against
a real uvicorn server, with a Dramatiq worker processing the mail: an admin opens a quarantined
message, completes the lead from its decoded text, saves the rule; the next message from that
sender becomes a lead by itself."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.domain.intake.parse import parse_message
from mailflow.infra.intake_store import store_inbound
from mailflow.models import Channel, InboundMessage, Lead
from mailflow.web.app import create_app
from support.factories import make_admin
from support.formats import SENDER, platform_mail
from support.paths import REPO
from support.servers.browser import sign_in
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


def outcome(settings, inbound_id: int) -> str:
    with session_scope(settings) as s:
        return s.get(InboundMessage, inbound_id).outcome.value


def arrives(settings, raw: bytes, expected: str) -> int:
    """A message comes in by SMTP; the worker processes it."""
    stored = store_inbound(raw, Channel.SMTP, settings=settings, envelope_from=SENDER)
    wait_for(lambda: outcome(settings, stored.id) != "pending", timeout=30)
    assert outcome(settings, stored.id) == expected
    return stored.id


def test_complete_a_quarantined_lead_save_the_rule_and_the_next_message_is_read(
    server, browser, settings
):
    make_admin(settings, email="ops@example.com")
    first = platform_mail("Jean Dupont", "06 12 34 56 78", "jean@example.org", "75011", "Paris")
    assert parse_message(first).kind == "quarantine"
    first_id = arrives(settings, first, "quarantined")

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, server, f"/admin/inbound/{first_id}")

    # The message's page leads to its decoded text (quoted-printable undone) and the lead form.
    page.click("#read-link")
    page.wait_for_url(server + f"/admin/inbound/{first_id}/read")
    text = page.inner_text("#mailtext")
    assert "Anfrage 4411 ist eingegangen – viel Erfolg!" in text and "=E2=80=93" not in text
    form = "#lead-form"
    for name, value in {
        "name": "Jean Dupont",
        "phone": "06 12 34 56 78",
        "email": "jean@example.org",
        "postcode": "75011",
        "city": "Paris",
    }.items():
        page.fill(f"{form} input[name={name}]", value)
    page.check(f"{form} input[name=rule_scope][value=domain]")
    page.fill(f"{form} input[name=rule_subject]", "via SolarMatch")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-read-message.png"), full_page=True)
    page.click(f"{form} button[name=save_rule][value='1']")
    page.wait_for_url(server + f"/admin/inbound/{first_id}")
    flash = page.inner_text("main")
    assert "Lead #" in flash and "saved for @solarmatch.example" in flash
    assert outcome(settings, first_id) == "lead"

    # The next message from that sender, another customer, becomes a lead by itself.
    second = platform_mail(
        "Zoé Martin", "07 98 76 54 32", "zoe@example.com", "69003", "Lyon", number=4412
    )
    assert parse_message(second).kind == "quarantine"  # the general parser still cannot
    second_id = arrives(settings, second, "lead")
    with session_scope(settings) as s:
        lead = s.scalar(select(Lead).where(Lead.inbound_id == second_id))
        assert (lead.customer_name, lead.email, lead.phone, lead.postcode, lead.city) == (
            "Zoé Martin",
            "zoe@example.com",
            "+33798765432",
            "69003",
            "Lyon",
        )

    # The rules page says so.
    page.goto(server + "/admin/rules")
    row = page.inner_text("#rules tbody tr")
    assert "@solarmatch.example" in row and "via SolarMatch" in row
    assert page.inner_text("#rules tbody tr td[data-label='Messages read']") == "1"
    page.click("#rules tbody tr td a")
    assert page.inner_text("#messages-read") == "1"
    page.screenshot(path=str(ARTIFACTS / "admin-rule.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors
