"""Every email template, composed the way the service composes it (the functions of
``mailflow.outbound.emails`` on realistic rows) and rendered in every language: no English left
in a translated email, no raw enum value, no Python repr; numbers and phones written for people.
An email template without a composer here fails the test (so a new one is checked too)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from mailflow.i18n import LANGUAGES
from mailflow.models import Installer, Lead, LeadStatus
from mailflow.outbound import emails
from mailflow.outbound.templates import render_email, template_names
from support.locale_checks import french_spacing, problems, visible_text

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "https://leads.example/l"
ENGLISH_ONLY = {"admin_alert", "admin_digest"}  # the admins read English (PRODUCT.md)


def installer(language: str) -> Installer:
    return Installer(
        id=7,
        email="contact@soleil.example",
        name="Camille Roux",
        company="Soleil & Fils",
        language=language,
        country="DE",
        timezone="Europe/Berlin",
        phone="+4934114065515",
        rating=3.6667,
        tier="silver",
    )


def lead(language: str, status: LeadStatus = LeadStatus.QUOTE_SENT) -> Lead:
    return Lead(
        id=4711,
        status=status,
        product="heat_pump",
        building_type="residential",
        grid_connection="on_grid",
        customer_name="Claire Dubois",
        email="claire@example.fr",
        phone="+33140347000",
        street="Quai de Valmy 167",
        postcode="75010",
        city="Paris",
        country="FR",
        language=language,
        details={
            "annual_consumption_kwh": 12500.5,
            "roof_area_m2": 68.5,
            "electricity_price_ct_kwh": 32.5,
            "module_count": 13,
            "storage_interest": True,
            "savings_yearly": 1234.56,
        },
    )


def compose(template: str, language: str) -> list[emails.EmailSpec]:
    who, customer = installer(language), lead(language)
    visit = SimpleNamespace(
        starts_at=NOW + timedelta(days=3), address="Quai de Valmy 167, Paris", note="Code 1234"
    )
    steps = [{"label": "Devis", "url": f"{URL}/status/T"}]
    match template:
        case "offer":
            return [
                emails.offer_email(
                    customer,
                    who,
                    deadline=NOW + timedelta(hours=24),
                    accept_url=f"{URL}/accept/T",
                    decline_url=f"{URL}/decline/T",
                    vacation_url=f"{URL}/vacation/T",
                    now=NOW,
                    why="fewest_offers",
                    tier="gold",
                )
            ]
        case "offer_accepted":
            return [
                emails.offer_accepted_email(
                    customer, who, status_links=steps, dashboard_url=f"{URL}/d"
                )
            ]
        case "contact_details":
            return [emails.contact_details_email(customer, who, reveal_url=f"{URL}/reveal/T")]
        case "reminder":
            return [emails.reminder_email(customer, who, reason="…", status_links=steps)]
        case "admin_alert":
            return [emails.admin_alert_email("a@x.example", title="Pool", message="Lead 1")]
        case "admin_digest":
            return [
                emails.admin_digest_email(
                    "a@x.example",
                    alerts=[{"title": "T", "message": "M", "url": None}],
                    pool_url=URL,
                )
            ]
        case "reservation_lapsed":
            return [emails.reservation_lapsed_email(customer, who)]
        case "exchange_claim_lapsed":
            return [emails.exchange_claim_lapsed_email(customer, who)]
        case "exchange_daily":
            return [
                emails.exchange_daily_email(
                    who, leads=[customer], total=3, dashboard_url=URL, unsubscribe_url=URL
                )
            ]
        case "reply_refused":
            return [emails.reply_refused_email(customer.id, who)]
        case "account_deactivated":
            return [emails.deactivated_email(who, signin_url=URL)]
        case "digest":
            return [
                emails.digest_email(
                    who,
                    leads=[lead(language, status) for status in LeadStatus],
                    open_offers=2,
                    unsubscribe_url=URL,
                )
            ]
        case "offers_withdrawn":
            return [
                emails.offers_withdrawn_email(
                    who, leads=[customer], reason=reason, dashboard_url=URL
                )
                for reason in ("vacation", "deactivated")
            ]
        case "signin":
            return [emails.signin_email(who, signin_url=URL)]
        case "admin_invitation":
            return [
                emails.admin_invitation_email(
                    "new@x.example",
                    language=language,
                    role=role,
                    invited_by="boss@x.example",
                    url=URL,
                    hours=72,
                )
                for role in ("admin", "viewer")
            ]
        case "admin_password_reset":
            return [
                emails.admin_password_reset_email(
                    "new@x.example", language=language, url=URL, hours=72
                )
            ]
        case "site_visit":
            return [
                emails.site_visit_email(
                    customer, who, visit, change=change, language=language, ics="", method="REQUEST"
                )
                for change in ("booked", "moved", "cancelled")
            ]
        case "site_visit_reminder":
            return [
                emails.visit_reminder_email(
                    customer, who, visit, to="x@y.example", language=language, for_installer=side
                )
                for side in (True, False)
            ]
        case "survey":
            return [
                emails.survey_email(customer, who, url=URL, language=language, reminder=reminder)
                for reminder in (False, True)
            ]
        case "rating_received":
            survey = SimpleNamespace(
                service=5, installation=4, communication=2, comment="Très bien", average=3.6667
            )
            return [emails.rating_received_email(customer, who, survey)]
        case "tier_changed":
            change = SimpleNamespace(old_tier="silver", new_tier="gold", score=68.25)
            return [emails.tier_changed_email(who, change, ["rating", "acceptance"])]
        case "return_decided":
            return [
                emails.return_decided_email(
                    customer,
                    who,
                    approved=approved,
                    reason="Customer unreachable after several attempts",
                    outcome=outcome,
                    dashboard_url=URL,
                )
                for approved, outcome in ((True, "rotation"), (True, "closed"), (False, None))
            ]
    raise AssertionError(f"no composer for the email template {template!r}: add one here")


CASES = [(t, lang) for t in template_names() for lang in LANGUAGES]


@pytest.mark.parametrize(("template", "language"), CASES)
def test_every_email_reads_right_in_every_language(template, language):
    if template in ENGLISH_ONLY and language != "en":
        pytest.skip("admin emails are in English")
    for spec in compose(template, language):
        rendered = render_email(spec.template, spec.language, spec.context)
        for part, text in (
            ("subject", rendered.subject),
            ("text", visible_text(rendered.text)),
            ("html", visible_text(rendered.html)),
        ):
            found = problems(text, language)
            assert not found, f"{template} ({language}, {part}): {found}"
            if language == "fr" and (spacing := french_spacing(text)):
                warnings.warn(
                    f"{template} {part}: no space before punctuation: {spacing}", stacklevel=2
                )


@pytest.mark.parametrize(
    ("language", "decimal", "phone"),
    [("de", "3,67", "+49 341 14065515"), ("fr", "3,67", "+49 341 14065515")],
)
def test_numbers_and_phones_are_written_for_people(language, decimal, phone):
    (rating,) = compose("rating_received", language)
    text = render_email(rating.template, rating.language, rating.context).text
    assert decimal in text and "3.67" not in text
    reminder = compose("site_visit_reminder", language)[1]  # the customer's: the installer's phone
    text = render_email(reminder.template, reminder.language, reminder.context).text
    assert phone in text and "+4934114065515" not in text
    (offer,) = compose("offer", language)
    html = render_email(offer.template, offer.language, offer.context).html
    assert "68,5\u00a0m²" in html and "68.5" not in html
    assert "heat_pump" not in html
