"""Every email template, in every language, written to the outbox and its raw MIME parsed
back: subjects are one clean line, optional mail (and only it) carries List-Unsubscribe with
RFC 8058 one-click, and the one-click POST really unsubscribes."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.i18n import LANGUAGES
from mailflow.lifecycle.service import send_digests
from mailflow.models import Installer, Lead, LeadStatus
from mailflow.outbound import emails
from mailflow.outbound.emails import OPTIONAL_EMAILS, EmailSpec
from mailflow.outbound.outbox import queue_email
from mailflow.outbound.templates import template_names
from mailflow.web.app import create_app
from support.lifecycle import accepted_lead
from support.offers import emails_to
from support.people import GOLD_PARIS

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Mail that must never look unsubscribable: it is what the service is for.
TRANSACTIONAL = {"offer", "offer_accepted", "contact_details", "signin", "site_visit", "survey"}


def people(language: str) -> tuple[Lead, Installer]:
    lead = Lead(
        id=41,
        customer_name="Zoë Nowak-Dubois",
        email="zoe@example.org",
        phone="+33140347000",
        street="Quai de Valmy 167",
        postcode="75010",
        city="Paris",
        country="FR",
        language=language,
        product="pv",
        building_type="residential",
        details={"annual_consumption_kwh": 3100.5, "module_count": 13},
        status=LeadStatus.ACCEPTED,
    )
    installer = Installer(
        id=7,
        name="Camille Roux",
        company="Soleil Paris SARL",
        email="contact@soleil-paris.example",
        phone="+33123456789",
        language=language,
        timezone="Europe/Paris",
    )
    return lead, installer


URL = "https://mailflow.example/l/x/token"
VISIT = SimpleNamespace(
    starts_at=NOW + timedelta(days=5), duration_minutes=60, address="Quai de Valmy 167", note="Cour"
)
LINKS = [{"step": "quote_sent", "label": "Quote sent", "url": URL}]


def specs(language: str) -> dict[str, list[EmailSpec]]:
    """Each template with the spec its builder makes (every variant the template knows)."""
    lead, inst = people(language)
    survey = SimpleNamespace(service=5, installation=4, communication=5, comment="ok", average=4.7)
    change = SimpleNamespace(old_tier="silver", new_tier="gold", score=81.5)
    visit = {
        "change": None,
        "language": language,
        "ics": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        "method": "REQUEST",
    }
    made: dict[str, Callable[[], list[EmailSpec]]] = {
        "offer": lambda: [
            emails.offer_email(
                lead,
                inst,
                deadline=NOW + timedelta(hours=4),
                accept_url=URL,
                decline_url=URL,
                vacation_url=URL,
                now=NOW,
            )
        ],
        "offer_accepted": lambda: [
            emails.offer_accepted_email(
                lead, inst, status_links=LINKS, dashboard_url=URL, vacation_url=URL
            )
        ],
        "contact_details": lambda: [emails.contact_details_email(lead, inst, reveal_url=URL)],
        "reminder": lambda: [
            emails.reminder_email(lead, inst, reason="Lead #41", status_links=LINKS)
        ],
        "admin_alert": lambda: [emails.admin_alert_email("a@x.example", title="T", message="M")],
        "admin_digest": lambda: [
            emails.admin_digest_email(
                "a@x.example", alerts=[{"title": "T", "message": "M", "url": URL}], pool_url=URL
            )
        ],
        "reservation_lapsed": lambda: [emails.reservation_lapsed_email(lead, inst)],
        "exchange_claim_lapsed": lambda: [emails.exchange_claim_lapsed_email(lead, inst)],
        "exchange_daily": lambda: [
            emails.exchange_daily_email(
                inst, leads=[lead], total=3, dashboard_url=URL, unsubscribe_url=URL
            )
        ],
        "reply_refused": lambda: [emails.reply_refused_email(41, inst)],
        "account_deactivated": lambda: [emails.deactivated_email(inst, signin_url=URL)],
        "digest": lambda: [
            emails.digest_email(inst, leads=[lead], open_offers=2, unsubscribe_url=URL)
        ],
        "offers_withdrawn": lambda: [
            emails.offers_withdrawn_email(inst, leads=[lead], reason="vacation", dashboard_url=URL)
        ],
        "signin": lambda: [emails.signin_email(inst, signin_url=URL)],
        "admin_invitation": lambda: [
            emails.admin_invitation_email(
                "a@x.example",
                language="fr",
                role="viewer",
                invited_by="b@x.example",
                url=URL,
                hours=72,
            )
        ],
        "admin_password_reset": lambda: [
            emails.admin_password_reset_email("a@x.example", language="de", url=URL, hours=72)
        ],
        "site_visit": lambda: [
            emails.site_visit_email(
                lead, inst, VISIT, **{**visit, "change": c}, for_installer=for_installer
            )
            for c in ("booked", "moved", "cancelled")
            for for_installer in (False, True)
        ],
        "site_visit_reminder": lambda: [
            emails.visit_reminder_email(
                lead,
                inst,
                VISIT,
                to="x@example.org",
                language=language,
                for_installer=for_installer,
                tomorrow=tomorrow,
            )
            for for_installer in (False, True)
            for tomorrow in (False, True)
        ],
        "survey": lambda: [
            emails.survey_email(lead, inst, url=URL, language=language, reminder=reminder)
            for reminder in (False, True)
        ],
        "rating_received": lambda: [emails.rating_received_email(lead, inst, survey)],
        "tier_changed": lambda: [emails.tier_changed_email(inst, change, ["rating"])],
        "return_decided": lambda: [
            emails.return_decided_email(
                lead, inst, approved=approved, reason="Outside my area", outcome=outcome
            )
            for approved, outcome in ((True, "rotation"), (False, None))
        ],
    }
    return {name: build() for name, build in made.items()}


def queued(settings, language: str):
    """Every spec of every template through the outbox; (template, parsed message) pairs."""
    out = []
    with session_scope(settings) as session:
        for name, built in specs(language).items():
            for spec in built:
                spec.lead_id = spec.installer_id = None  # no such rows in this database
                row = queue_email(session, spec, now=NOW, settings=settings)
                out.append((name, row.subject, row.raw))
    return [
        (name, subject, email.message_from_bytes(raw, policy=email.policy.default))
        for name, subject, raw in out
    ]


def test_every_template_has_a_spec_here():
    assert set(specs("en")) == set(template_names())
    assert OPTIONAL_EMAILS <= set(template_names())
    assert not OPTIONAL_EMAILS & TRANSACTIONAL


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_subjects_are_one_clean_line_and_only_optional_mail_is_unsubscribable(settings, language):
    assert set(LANGUAGES) >= {"fr", "de", "pl", "en"}
    messages = queued(settings, language)
    assert {name for name, _, _ in messages} == set(template_names())
    for name, subject, msg in messages:
        parsed = str(msg["Subject"])
        assert parsed == subject, name
        assert subject and subject == subject.strip(), (name, subject)
        assert "\n" not in subject and "\r" not in subject and "  " not in subject, name
        unsubscribe = msg["List-Unsubscribe"]
        if name in OPTIONAL_EMAILS:
            assert unsubscribe == f"<{URL}>", name
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", name
            assert URL in msg.get_body(("plain",)).get_content(), name
            assert URL in msg.get_body(("html",)).get_content(), name
        else:
            assert unsubscribe is None and msg["List-Unsubscribe-Post"] is None, name


def test_an_optional_email_without_its_unsubscribe_link_is_refused(settings):
    lead, inst = people("en")
    spec = emails.digest_email(inst, leads=[lead], open_offers=0, unsubscribe_url="")
    spec.installer_id = None
    with session_scope(settings) as session, pytest.raises(ValueError, match="unsubscribe"):
        queue_email(session, spec, now=NOW, settings=settings)


# ------------------------------------------------------------------ one-click (RFC 8058) -----
@pytest.fixture
def raw_client(settings):
    """A mail client's POST: no cookies, no CSRF field, no page fetched first."""
    with TestClient(create_app(), cookies=None) as client:
        yield client


SENT = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def digest_unsubscribe_url(settings) -> str:
    at = SENT
    accepted_lead(settings, at)
    send_digests(settings, at + timedelta(hours=1))
    (mail,) = emails_to(settings, GOLD_PARIS, "digest")
    msg = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", str(msg["List-Unsubscribe"])).group(1)
    return "/" + url.split("/", 3)[3]


def opted_out(settings) -> bool:
    with session_scope(settings) as s:
        return s.scalar(select(Installer.digest_opt_out).where(Installer.email == GOLD_PARIS))


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_post_unsubscribes_without_cookies(settings, worker, raw_client, multipart):
    path = digest_unsubscribe_url(settings)
    # Read the digest the day it came (its link lasts 26 weeks; the CI clock runs a year ahead).
    with time_machine.travel(SENT + timedelta(hours=2)):
        _one_click(raw_client, path, multipart, settings)


def _one_click(raw_client, path: str, multipart: bool, settings) -> None:
    assert not opted_out(settings)
    body = {"List-Unsubscribe": "One-Click"}
    if multipart:  # RFC 8058 allows multipart/form-data as well
        done = raw_client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    else:
        done = raw_client.post(path, data=body)
    assert done.status_code == 200, done.text
    assert opted_out(settings)
    assert raw_client.post(path, data=body).status_code == 200  # twice: still fine


@pytest.mark.parametrize(
    "forge",
    [
        lambda path: path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"),
        lambda path: "/l/vacation/not-a-token",
        lambda path: "/l/vacation/" + "é" * 40,
        lambda path: path.replace("/l/vacation/", "/l/vacation/x"),
        lambda path: "/l/vacation/" + "A" * 5000,
    ],
)
def test_a_forged_one_click_token_is_a_client_error(settings, worker, raw_client, forge):
    path = digest_unsubscribe_url(settings)
    with time_machine.travel(SENT + timedelta(hours=2)):
        refused = raw_client.post(forge(path), data={"List-Unsubscribe": "One-Click"})
    assert 400 <= refused.status_code < 500, refused.status_code
    assert not opted_out(settings)
