"""Headless Debian Chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from support.paths import REPO
from support.people import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (scripts/test installs it)")


@contextmanager
def browser_page(viewport: dict | None = None, locale: str = "en-US"):
    require_chromium()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            viewport=viewport or {"width": 1100, "height": 900}, locale=locale
        )
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(
    page,
    base: str,
    path: str,
    *,
    landing: str | None = None,
    email: str = "ops@example.com",
    password: str = PASSWORD,
) -> None:
    """Open ``base + path`` signed out (the admin login form, or a page that sends there), sign
    in as the admin through the form and wait for ``base + landing`` (``path`` by default: the
    form brings the admin back to the page they asked for)."""
    page.goto(base + path)
    assert "/admin/login" in page.url, page.url
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form[action='/admin/login'] button[type=submit]")
    page.wait_for_url(base + (path if landing is None else landing))
