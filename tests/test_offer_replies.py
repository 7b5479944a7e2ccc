"""Answering an offer by replying to its email."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from offers_helpers import emails_to, lead, load_installers, new_lead, wait_for_offer

from mailflow import clock
from mailflow.db import session_scope
from mailflow.inbound.process import process_inbound_message
from mailflow.inbound.store import store_inbound
from mailflow.models import Channel, InboundMessage, InboundOutcome, LeadStatus

GOLD_PARIS = "contact@soleil-paris.example"
SILVER_PARIS = "devis@ile-de-france-pv.example"


def reply(settings, offer_mail, *, sender: str, body: str, auto: bool = False) -> InboundMessage:
    msg = EmailMessage()
    msg["From"] = f"Camille <{sender}>"
    msg["To"] = offer_mail.headers["Reply-To"]
    msg["Subject"] = ("Abwesenheitsnotiz: " if auto else "Re: ") + offer_mail.subject
    msg["In-Reply-To"] = offer_mail.message_id
    msg["Message-ID"] = f"<reply-{clock.now().timestamp()}-{sender}@x>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body + "\n\n> " + offer_mail.body_text.replace("\n", "\n> "))
    stored = store_inbound(
        msg.as_bytes(),
        Channel.SMTP,
        settings=settings,
        envelope_to=[offer_mail.headers["Reply-To"]],
    )
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        return s.get(InboundMessage, stored.id)


@pytest.mark.parametrize("word", ["Accept", "annehmen.", "ACCEPTER !", "Akceptuję"])
def test_accept_by_reply(settings, worker, word):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    offer_mail = emails_to(settings, GOLD_PARIS, "offer")[0]
    row = reply(settings, offer_mail, sender=GOLD_PARIS, body=f"{word}\nMerci, je rappelle.")
    assert row.outcome == InboundOutcome.REPLY and "accepted" in row.reason
    got = lead(settings, lead_id)
    assert got.status == LeadStatus.ACCEPTED and got.assigned_installer.email == GOLD_PARIS
    accepted = [e for e in got.events if e.type == "accepted"][0]
    assert accepted.data["via"] == "email"
    assert emails_to(settings, GOLD_PARIS, "contact_details")


def test_decline_by_reply_moves_on(settings, worker):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    row = reply(
        settings,
        emails_to(settings, GOLD_PARIS, "offer")[0],
        sender=GOLD_PARIS,
        body="Ablehnen - keine Kapazität",
    )
    assert row.outcome == InboundOutcome.REPLY and "declined" in row.reason
    wait_for_offer(settings, lead_id, 2)
    assert emails_to(settings, SILVER_PARIS, "offer")


def test_reply_from_someone_else_does_nothing(settings, worker):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    row = reply(
        settings,
        emails_to(settings, GOLD_PARIS, "offer")[0],
        sender="intruder@example.org",
        body="accept",
    )
    assert row.outcome == InboundOutcome.REPLY and "not from the installer" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


def test_auto_reply_to_an_offer_never_counts(settings, worker):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    row = reply(
        settings,
        emails_to(settings, GOLD_PARIS, "offer")[0],
        sender=GOLD_PARIS,
        body="Accept my apologies, I am out of the office until Monday.",
        auto=True,
    )
    assert row.outcome == InboundOutcome.AUTO_REPLY
    got = lead(settings, lead_id)
    assert got.status == LeadStatus.OFFERED
    assert "auto_reply" in [e.type for e in got.events]


def test_unclear_reply_is_recorded_without_effect(settings, worker):
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    row = reply(
        settings,
        emails_to(settings, GOLD_PARIS, "offer")[0],
        sender=GOLD_PARIS,
        body="Can you tell me more about the roof?",
    )
    assert row.outcome == InboundOutcome.REPLY and "does not start with" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED
