"""The network's brand (MAILFLOW_BRAND_*, #18): customers read the platform's name, legal footer
and privacy link, never "mailflow: sales leads for installers"; installers see the brand too."""

from __future__ import annotations

import email
from datetime import datetime
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient

from mailflow import config as mf_config
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.lifecycle import CUSTOMER, installed_lead
from support.offers import emails_to
from support.people import GOLD_PARIS

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def branded(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_BRAND_NAME", "SolarNetz")
    monkeypatch.setenv("MAILFLOW_BRAND_SENDER_NAME", "SolarNetz Kundenservice")
    monkeypatch.setenv("MAILFLOW_BRAND_COLOR", "#123456")
    monkeypatch.setenv("MAILFLOW_BRAND_FOOTER", "SolarNetz GmbH · Leipzig · HRB 4711")
    monkeypatch.setenv("MAILFLOW_BRAND_PRIVACY_URL", "https://solarnetz.example/datenschutz")
    mf_config.reset_settings()
    yield mf_config.get_settings()
    mf_config.reset_settings()


def test_customer_mail_and_pages_carry_the_brand_not_the_installers_tagline(branded, worker):
    installed_lead(branded)
    run_sweep(branded, datetime(2026, 11, 23, 10, 0, tzinfo=PARIS))
    (survey,) = emails_to(branded, CUSTOMER, "survey")
    for body in (survey.body_text, survey.body_html):
        assert "SolarNetz GmbH · Leipzig · HRB 4711" in body
        assert "https://solarnetz.example/datenschutz" in body
        assert "mailflow" not in body.lower()
        assert "des leads pour les installateurs" not in body  # the installers' tagline
    assert "#123456" in survey.body_html
    parsed = email.message_from_bytes(survey.raw, policy=default_policy)
    assert parsed["From"].addresses[0].display_name == "SolarNetz Kundenservice"
    # The survey page the customer opens: the brand's header and legal footer.
    path = "/l/survey/" + survey.body_text.split("/l/survey/")[1].split()[0]
    with (
        time_machine.travel(datetime(2026, 11, 23, 10, 5, tzinfo=PARIS)),
        TestClient(create_app()) as client,
    ):
        page = client.get(path)
    assert page.status_code == 200
    assert "<header>SolarNetz</header>" in page.text and 'id="legal"' in page.text
    assert "mailflow" not in page.text.lower()
    # The installer's mail names the brand with the tagline, in their language.
    (offer,) = emails_to(branded, GOLD_PARIS, "offer")
    assert "SolarNetz : des leads pour les installateurs" in offer.body_text


def test_default_brand_keeps_the_installers_tagline_away_from_customers(settings, worker):
    installed_lead(settings)
    run_sweep(settings, datetime(2026, 11, 23, 10, 0, tzinfo=PARIS))
    (survey,) = emails_to(settings, CUSTOMER, "survey")
    assert "des leads pour les installateurs" not in survey.body_text
    assert "mailflow" in survey.body_text
    (offer,) = emails_to(settings, GOLD_PARIS, "offer")
    assert "mailflow : des leads pour les installateurs" in offer.body_text


def test_a_brand_colour_that_is_not_a_colour_is_refused(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_BRAND_COLOR", "red;background:url(x)")
    mf_config.reset_settings()
    with pytest.raises(ValueError, match="brand_color"):
        mf_config.get_settings()
    mf_config.reset_settings()
