"""Every installer and customer page, in English, French and German, on a 390 px phone and a
1280 px screen, in headless Chromium against a real uvicorn (#18): each page is checked by
axe-core (no serious or critical violation), fits the phone's width, and matches its committed
reference screenshot (``tests/support/screens.py`` says how to update them).

The data are made once on a fixed calendar (a lead installed and surveyed, one accepted, one
offered, one in the exchange) and the clock is frozen while the pages are read, so the pages,
their dates and their relative times are the same on every run."""

from __future__ import annotations

import os
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import Installer, Lead
from mailflow.routing import exchange
from mailflow.routing.offers import accept, lock_lead
from mailflow.schedule import run_sweep
from support.exchange import paris_lead, signed_in
from support.lifecycle import CUSTOMER, installed_lead
from support.offers import emails_to, links_in, load_installers, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS
from support.screens import accessibility_problems, compare_with_reference
from support.servers.browser import browser_page

PARIS = ZoneInfo("Europe/Paris")
# A key where a person should read a word: snake_case enum values and product keys.
RAW_VALUE = re.compile(r"\b[a-z]+_[a-z_]+\b")
LANGUAGES = {"en": "en-GB", "fr": "fr-FR", "de": "de-DE"}
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
BROWSE_AT = datetime(2026, 11, 23, 10, 30, tzinfo=PARIS)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    # Pages do not depend on the database: the PostgreSQL pass of scripts/test skips the tour.
    pytest.mark.skipif(
        bool(
            os.environ.get("MAILFLOW_TEST_POSTGRES") or os.environ.get("MAILFLOW_TEST_DATABASE_URL")
        ),
        reason="the page tour runs in the SQLite pass",
    ),
]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def _set_active(settings, address: str, active: bool) -> None:
    with session_scope(settings) as s:
        s.scalar(select(Installer).where(Installer.email == address)).active = active


def _world(settings) -> dict[str, str]:
    """The leads of the tour, for the gold Paris installer; returns the link paths."""
    installed = installed_lead(settings)  # accepted Nov 2, installed Nov 20
    run_sweep(settings, local(2026, 11, 23, 10, 0))  # the customer's survey
    _set_active(settings, SILVER_PARIS, False)  # everything below goes to gold
    with time_machine.travel(local(2026, 11, 23, 10, 5), tick=True):
        taken = paris_lead(settings, 1)
        (offer,) = wait_for_offer(settings, taken)
        with session_scope(settings) as s:
            accept(s, offer.id, offer.installer_id, now=clock.now(), settings=settings)
        offered = paris_lead(settings, 2)
        wait_for_offer(settings, offered)
        listed = paris_lead(settings, 3)
        wait_for_offer(settings, listed)
        with session_scope(settings) as s:
            lead = lock_lead(s, listed)
            exchange.open_to_exchange(s, lead, now=clock.now(), settings=settings, by="tour")
    _set_active(settings, SILVER_PARIS, True)
    offer_mail = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == offered][0]
    survey_mail = emails_to(settings, CUSTOMER, "survey")[0]
    links = links_in(offer_mail)
    accepted_mail = [
        m for m in emails_to(settings, GOLD_PARIS, "offer_accepted") if m.lead_id == taken
    ][0]
    return {
        "accept": links["accept"],
        "decline": links["decline"],
        "vacation": links["vacation"],
        "survey": links_in(survey_mail)["survey"],
        "status": links_in(accepted_mail)["status"],
        "taken": f"/dashboard/leads/{taken}",
        "installed": f"/dashboard/leads/{installed}",
    }


def _speak(settings, language: str) -> None:
    """The installer and every customer read ``language``."""
    with session_scope(settings) as s:
        s.scalar(select(Installer).where(Installer.email == GOLD_PARIS)).language = language
        for lead in s.scalars(select(Lead)):
            lead.language = language


def _pages(links: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(name, path, signed in) of every installer and customer page."""
    return [
        ("signin", "/dashboard/signin", False),
        ("home-new", "/dashboard/?tab=new", True),
        ("home-progress", "/dashboard/?tab=progress", True),
        ("home-finished", "/dashboard/?tab=finished", True),
        ("home-available", "/dashboard/?tab=available", True),
        ("lead-accepted", links["taken"], True),
        ("lead-installed", links["installed"], True),
        ("score", "/dashboard/score", True),
        ("settings", "/dashboard/settings", True),
        ("offer-accept", links["accept"], False),
        ("offer-decline", links["decline"], False),
        ("vacation-link", links["vacation"], False),
        ("status-link", links["status"], False),
        ("survey", links["survey"], False),
        ("link-invalid", "/l/accept/not-a-token", False),
    ]


def test_every_installer_and_customer_page_in_three_languages_and_two_widths(
    settings, worker, live_server
):
    load_installers(settings)
    links = _world(settings)
    problems: list[str] = []
    for language, browser_locale in LANGUAGES.items():
        _speak(settings, language)
        session = signed_in(settings, GOLD_PARIS)
        cookies = [
            {"name": name, "value": value, "url": live_server}
            for name, value in session.cookies.items()
        ]
        session.close()
        with time_machine.travel(BROWSE_AT, tick=False):
            for width_name, viewport in WIDTHS.items():
                with browser_page(viewport=viewport, locale=browser_locale) as page:
                    for name, path, needs_session in _pages(links):
                        page.context.clear_cookies()
                        if needs_session:
                            page.context.add_cookies(cookies)
                        response = page.goto(live_server + path)
                        label = f"{name}-{language}-{width_name}"
                        if response is None or response.status >= 500:
                            problems.append(f"{label}: HTTP {response and response.status}")
                            continue
                        if needs_session and "/dashboard/signin" in page.url:
                            problems.append(f"{label}: sent to the sign-in page")
                            continue
                        problems += [f"{label}: {p}" for p in accessibility_problems(page)]
                        overflow = page.evaluate("document.documentElement.scrollWidth")
                        if overflow > viewport["width"]:
                            problems.append(f"{label}: {overflow} px wide on {viewport['width']}")
                        if raw := sorted(set(RAW_VALUE.findall(page.inner_text("body")))):
                            problems.append(f"{label}: raw values in the text: {', '.join(raw)}")
                        shot = page.screenshot(full_page=True, animations="disabled")
                        if (difference := compare_with_reference(shot, label)) is not None:
                            problems.append(difference)
    assert not problems, "\n".join(problems)
