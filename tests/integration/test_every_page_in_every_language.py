"""The installer's and the customer's pages, reached the way they reach them (links from the
emails, the dashboard, the survey) in each language, read right: every page in the person's
language whatever the browser asks for, no English left, no raw enum value, no Python repr;
amounts typed the way the language writes them are read right, a malformed one gets a
translated error; phones and decimals are written for people."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.i18n import LANGUAGES, gettext
from mailflow.links import tokens
from mailflow.models import Installer, Lead, LeadStatus, LinkNonce, Survey
from mailflow.web.app import create_app
from support.broker import stub_broker
from support.locale_checks import french_spacing, problems, visible_text
from support.offers import csrf_of, emails_to, links_in, load_installers, new_lead, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS

# The browser asks for another language than the installer's: the pages must not follow it.
OTHER = {"en": "de", "fr": "pl", "de": "fr", "pl": "en"}
AMOUNTS = {  # what a person types, per language → 12500.5
    "en": "12,500.50",
    "fr": "12\u202f500,50",
    "de": "12.500,50",
    "pl": "12\u00a0500,50",
}
MALFORMED = {"en": "12.500,50", "fr": "12,500.50", "de": "12,500.50", "pl": "12,500.50"}
EXAMPLE = {"en": "12,500.50", "fr": "12\u202f500,50", "de": "12.500,50", "pl": "12\u00a0500,50"}
ANONYMOUS = "(the reader is not known yet) "
SIGNIN = re.compile(r"/l/signin/[A-Za-z0-9_\-.]+")
STATUS = re.compile(r"/l/status/[A-Za-z0-9_\-.]+")


class Reader:
    """A browser whose Accept-Language is not the installer's; collects every page it reads."""

    def __init__(self, client: TestClient, language: str):
        self.client, self.language, self.pages = client, language, []
        self.headers = {"Accept-Language": OTHER[language]}

    def read(self, response, what: str):
        assert response.status_code < 500, (what, response.status_code, response.text[:500])
        if "text/html" in response.headers.get("content-type", ""):
            self.pages.append((what, response))
        return response

    def get(self, path: str, what: str = ""):
        return self.read(self.client.get(path, headers=self.headers), what or path)

    def post(self, path: str, data: dict, what: str = "", **kw):
        return self.read(
            self.client.post(path, data=data, headers=self.headers, **kw), what or path
        )

    def act(self, path: str, what: str, **fields):
        page = self.get(path, what + " (form)")
        return self.post(path, {"csrf_token": csrf_of(page.text), **fields}, what)


def set_up(settings, language: str) -> int:
    load_installers(settings)
    with session_scope(settings) as s:
        for row in s.scalars(select(Installer)):
            if row.email == GOLD_PARIS:
                row.language, row.phone = language, "+4934114065515"
            elif row.email == SILVER_PARIS:
                row.active = False  # every Paris lead goes to the gold installer
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        lead.language, lead.phone, lead.product = language, "+33140347000", "heat_pump"
        lead.grid_connection = "on_grid"
        lead.details = {
            **lead.details,
            "roof_area_m2": 68.5,
            "electricity_price_ct_kwh": 32.5,
            "battery": True,
            "main_consumption": "Wärmepumpe",
        }
    wait_for_offer(settings, lead_id)
    return lead_id


def survey_path(settings, lead_id: int) -> str:
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        survey = Survey(lead_id=lead.id, installer_id=lead.assigned_installer_id)
        s.add(survey)
        s.flush()
        token = tokens.issue(
            s,
            settings,
            "survey",
            now=clock.now(),
            subject_id=survey.id,
            lead_id=lead.id,
            installer_id=lead.assigned_installer_id,
        )
    return f"/l/survey/{token}"


def walk(settings, reader: Reader, lead_id: int) -> None:
    """Every page an installer and their customer meet along a lead's way."""
    offer = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == lead_id][-1]
    links = links_in(offer)
    reader.get(links["decline"], "decline page")
    accepted = reader.act(links["accept"], "accepted page")
    assert accepted.status_code == 200
    # What the installer reads: the customer's phone for people, the project's numbers too.
    shown = visible_text(accepted.text)
    assert "+33 1 40 34 70 00" in shown and "+33140347000" not in shown
    decimal = {"en": "68.5", "fr": "68,5", "de": "68,5", "pl": "68,5"}[reader.language]
    assert decimal in accepted.text
    again = reader.get(links["accept"], "used accept link")
    assert again.status_code == 409
    stub_broker.join("outbound")
    (details,) = emails_to(settings, GOLD_PARIS, "contact_details")
    reveal = links_in(details)["reveal"]
    reader.act(reveal, "revealed page")
    assert reader.post(reveal, {"csrf_token": "x"}, "revealed again").status_code in (403, 409)

    (acceptance,) = emails_to(settings, GOLD_PARIS, "offer_accepted")
    steps = sorted(set(STATUS.findall(acceptance.body_text)))
    for path in steps:
        reader.get(path, "status step")
    quote = next(p for p in steps if "quote_sent" in _step_of(settings, p))
    bad = reader.act(quote, "quote with a malformed amount", amount=MALFORMED[reader.language])
    assert bad.status_code == 422 and EXAMPLE[reader.language] in bad.text
    good = reader.act(quote, "quote saved", amount=AMOUNTS[reader.language], currency="EUR")
    assert good.status_code == 200, good.text
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.status == LeadStatus.QUOTE_SENT and lead.progress["quote"]["amount"] == 12500.5

    survey = survey_path(settings, lead_id)
    reader.get(survey, "survey")
    wrong = reader.post(survey, {"csrf_token": csrf_of(reader.pages[-1][1].text)}, "survey wrong")
    assert wrong.status_code == 422
    reader.act(survey, "survey thanks", service="5", installation="4", communication="3")
    reader.get(survey, "survey already answered")


def dashboard(settings, reader: Reader, lead_id: int) -> None:
    # Nobody is known yet on the sign-in page: it follows the browser (checked below).
    page = reader.get("/dashboard/signin", ANONYMOUS + "sign-in")
    reader.post(
        "/dashboard/signin",
        {"csrf_token": csrf_of(page.text), "email": GOLD_PARIS},
        ANONYMOUS + "link sent",
    )
    stub_broker.join("outbound")
    path = SIGNIN.search(emails_to(settings, GOLD_PARIS, "signin")[-1].body_text).group(0)
    page = reader.get(path, "sign-in link")
    done = reader.post(
        path, {"csrf_token": csrf_of(page.text)}, "signed in", follow_redirects=False
    )
    assert done.status_code == 303
    for path in (
        "/dashboard/",
        "/dashboard/?tab=progress",
        "/dashboard/?tab=finished",
        "/dashboard/?tab=available",
        f"/dashboard/leads/{lead_id}",
        "/dashboard/settings",
        "/dashboard/score",
    ):
        reader.get(path, "dashboard " + path)
    lead_page = reader.get(f"/dashboard/leads/{lead_id}", "lead page")
    shown = visible_text(lead_page.text)
    assert "+33 1 40 34 70 00" in shown
    # Every detail by its label in the installer's language, numbers in their locale.
    price = {"en": "32.5", "fr": "32,5", "de": "32,5", "pl": "32,5"}[reader.language]
    label = gettext(reader.language, "Electricity price")
    assert f"{label} {price} ct/kWh" in re.sub(r"\s+", " ", shown)
    assert "ct kwh" not in shown.lower()
    bad = reader.post(
        f"/dashboard/leads/{lead_id}/status",
        {
            "csrf_token": csrf_of(lead_page.text),
            "status": "order_placed",
        },
        "lead page: a step",
        follow_redirects=True,
    )
    assert bad.status_code < 500
    visit = reader.post(
        f"/dashboard/leads/{lead_id}/visit",
        {"csrf_token": csrf_of(lead_page.text), "date": "2020-01-01", "time": "25:00"},
        "visit refused",
    )
    assert visit.status_code == 422
    reader.get("/dashboard/leads/999999", "lead not found")


def _step_of(settings, path: str) -> str:
    token = path.rsplit("/", 1)[1]
    with session_scope(settings) as s:
        return str(tokens.verify(s, settings, "status", token, now=clock.now()).extra.get("s"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_installer_and_customer_page_reads_right(settings, worker, language):
    lead_id = set_up(settings, language)
    with TestClient(create_app()) as client:
        reader = Reader(client, language)
        walk(settings, reader, lead_id)
        dashboard(settings, reader, lead_id)
    assert len(reader.pages) > 25
    found = {}
    for what, response in reader.pages:
        shown = OTHER[language] if what.startswith(ANONYMOUS) else language
        assert f'<html lang="{shown}">' in response.text, (what, response.text[:300])
        wrong = problems(visible_text(response.text), shown)
        if wrong:
            found[what] = wrong
        if shown == "fr" and (spacing := french_spacing(visible_text(response.text))):
            warnings.warn(f"{what}: no space before punctuation: {spacing}", stacklevel=2)
    assert not found, found


@pytest.mark.parametrize("language", ["fr", "de"])
def test_expired_and_used_links_speak_the_installer_s_language(settings, worker, language):
    lead_id = set_up(settings, language)
    offer = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == lead_id][-1]
    links = links_in(offer)
    with TestClient(create_app()) as client:
        reader = Reader(client, language)
        reader.act(links["accept"], "accepted")
        used = reader.get(links["decline"], "decline after accepting")
        assert used.status_code == 409 and f'<html lang="{language}">' in used.text
        with session_scope(settings) as s:
            for row in s.scalars(select(LinkNonce)):
                row.expires_at = clock.now() - timedelta(minutes=1)
        expired = reader.get(links["accept"], "expired accept link")
        assert expired.status_code == 410 and f'<html lang="{language}">' in expired.text
        # A token that is not ours says nothing about its reader: the browser's language.
        forged = reader.get("/l/accept/not-a-token", "forged")
        assert f'<html lang="{OTHER[language]}">' in forged.text


def signed_in(settings, reader: Reader) -> None:
    page = reader.get("/dashboard/signin")
    reader.post("/dashboard/signin", {"csrf_token": csrf_of(page.text), "email": GOLD_PARIS})
    stub_broker.join("outbound")
    path = SIGNIN.search(emails_to(settings, GOLD_PARIS, "signin")[-1].body_text).group(0)
    page = reader.get(path)
    reader.post(path, {"csrf_token": csrf_of(page.text)}, follow_redirects=False)


@pytest.mark.parametrize("language", ["de", "fr", "en"])
def test_the_dashboard_quote_reads_amounts_in_the_installer_s_language(settings, worker, language):
    lead_id = set_up(settings, language)
    offer = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == lead_id][-1]
    with TestClient(create_app()) as client:
        reader = Reader(client, language)
        reader.act(links_in(offer)["accept"], "accepted")
        signed_in(settings, reader)
        lead_page = f"/dashboard/leads/{lead_id}"

        def quote(amount: str):
            page = reader.get(lead_page)
            data = {
                "csrf_token": csrf_of(page.text),
                "status": "quote_sent",
                "quote_sent-amount": amount,
                "quote_sent-currency": "EUR",
            }
            return reader.post(f"{lead_page}/status", data, follow_redirects=False)

        refused = quote(MALFORMED[language])
        assert refused.status_code == 422
        assert EXAMPLE[language] in refused.text and "must be" not in refused.text
        with session_scope(settings) as s:
            assert s.get(Lead, lead_id).status == LeadStatus.ACCEPTED
        saved = quote(AMOUNTS[language])
        assert saved.status_code == 303, saved.text
    with session_scope(settings) as s:
        assert s.get(Lead, lead_id).progress["quote"]["amount"] == 12500.5
