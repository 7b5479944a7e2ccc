"""Answering an offer by replying to its email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import pytest

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.replies import reply_token
from mailflow.infra.intake_store import Incoming, store_many
from mailflow.intake.process import process_inbound_message
from mailflow.links import tokens
from mailflow.models import (
    Channel,
    InboundMessage,
    InboundOutcome,
    LeadStatus,
    Offer,
    OutboxMessage,
)
from mailflow.routing import offers
from support.offers import emails_to, lead, load_installers, new_lead, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS


@dataclass
class Offered:
    lead_id: int
    offer: Offer
    mail: OutboxMessage  # the offer email to GOLD_PARIS


@pytest.fixture
def offered(settings, worker) -> Offered:
    """A lead offered to the gold installer of Paris, and the offer email it got."""
    load_installers(settings)
    lead_id = new_lead(settings)
    (offer,) = wait_for_offer(settings, lead_id)
    return Offered(lead_id, offer, emails_to(settings, GOLD_PARIS, "offer")[0])


def reply(
    settings,
    offer_mail,
    *,
    sender: str,
    body: str,
    auto: bool = False,
    auth: tuple[str, ...] = (),
    at=None,
) -> InboundMessage:
    msg = EmailMessage()
    for value in auth:  # as the receiving MTA prepends them: topmost first
        msg["Authentication-Results"] = value
    msg["From"] = f"Camille <{sender}>"
    msg["To"] = offer_mail.headers["Reply-To"]
    msg["Subject"] = ("Abwesenheitsnotiz: " if auto else "Re: ") + offer_mail.subject
    msg["In-Reply-To"] = offer_mail.message_id
    msg["Message-ID"] = f"<reply-{clock.now().timestamp()}-{sender}@x>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body + "\n\n> " + offer_mail.body_text.replace("\n", "\n> "))
    # Stored without its processing job: the test processes it itself, at ``at`` (the worker
    # would race it, at the real instant, and could accept a reply meant to come too late).
    (stored,) = store_many(
        [Incoming(msg.as_bytes(), Channel.SMTP, envelope_to=[offer_mail.headers["Reply-To"]])],
        settings,
        enqueue=False,
    )
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=at or clock.now(), settings=settings)
    with session_scope(settings) as s:
        return s.get(InboundMessage, stored.id)


@pytest.mark.parametrize("word", ["Accept", "annehmen.", "ACCEPTER !", "Akceptuję"])
def test_accept_by_reply(settings, offered, word):
    lead_id = offered.lead_id
    offer_mail = offered.mail
    row = reply(settings, offer_mail, sender=GOLD_PARIS, body=f"{word}\nMerci, je rappelle.")
    assert row.outcome == InboundOutcome.REPLY and "accepted" in row.reason
    got = lead(settings, lead_id)
    assert got.status == LeadStatus.ACCEPTED and got.assigned_installer.email == GOLD_PARIS
    accepted = [e for e in got.events if e.type == "accepted"][0]
    assert accepted.data["via"] == "email"
    assert emails_to(settings, GOLD_PARIS, "contact_details")


def test_decline_by_reply_moves_on(settings, offered):
    lead_id = offered.lead_id
    row = reply(
        settings,
        offered.mail,
        sender=GOLD_PARIS,
        body="Ablehnen - keine Kapazität",
    )
    assert row.outcome == InboundOutcome.REPLY and "declined" in row.reason
    wait_for_offer(settings, lead_id, 2)
    assert emails_to(settings, SILVER_PARIS, "offer")


def test_reply_from_someone_else_does_nothing(settings, offered):
    lead_id = offered.lead_id
    row = reply(
        settings,
        offered.mail,
        sender="intruder@example.org",
        body="accept",
    )
    assert row.outcome == InboundOutcome.REPLY and "not from the installer" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


def test_auto_reply_to_an_offer_never_counts(settings, offered):
    lead_id = offered.lead_id
    row = reply(
        settings,
        offered.mail,
        sender=GOLD_PARIS,
        body="Accept my apologies, I am out of the office until Monday.",
        auto=True,
    )
    assert row.outcome == InboundOutcome.AUTO_REPLY
    got = lead(settings, lead_id)
    assert got.status == LeadStatus.OFFERED
    assert "auto_reply" in [e.type for e in got.events]


def test_unclear_reply_is_recorded_without_effect(settings, offered):
    lead_id = offered.lead_id
    row = reply(
        settings,
        offered.mail,
        sender=GOLD_PARIS,
        body="Can you tell me more about the roof?",
    )
    assert row.outcome == InboundOutcome.REPLY and "does not start with" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


# ------------------------------------------------------------------ sender authentication --
MTA = "mx.mailflow.example"


@pytest.mark.parametrize(
    "results",
    [
        f"{MTA}; dmarc=fail (p=reject) header.from=soleil-paris.example",
        f"{MTA}; spf=fail smtp.mailfrom=soleil-paris.example; dkim=none",
        f"{MTA}; spf=fail smtp.mailfrom=soleil-paris.example; dkim=fail header.d=x.example",
        # Microsoft's form without an authserv-id (the RFC parser refuses it): still read
        "spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=soleil-paris.example; dkim=none "
        "(message not signed) header.d=none;dmarc=fail action=none header.from=soleil-paris.example",
    ],
)
def test_reply_the_mta_found_forged_is_not_accepted(settings, offered, caplog, results):
    lead_id = offered.lead_id
    offer_mail = offered.mail
    row = reply(settings, offer_mail, sender=GOLD_PARIS, body="accept", auth=(results,))
    assert row.outcome == InboundOutcome.REPLY and "reply refused" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED
    assert any("refused" in r.getMessage() for r in caplog.records)
    # The installer is told at their own address, once per offer.
    again = reply(settings, offer_mail, sender=GOLD_PARIS, body="accept", auth=(results,))
    assert "reply refused" in again.reason
    (told,) = emails_to(settings, GOLD_PARIS, "reply_refused")
    assert told.lead_id == lead_id and str(lead_id) in told.subject and told.body_html


@pytest.mark.parametrize(
    "results",
    [
        f"{MTA}; spf=pass smtp.mailfrom=soleil-paris.example; dkim=pass; dmarc=pass",
        f"{MTA}; spf=fail smtp.mailfrom=relay.example; dkim=pass header.d=soleil-paris.example",
        f"{MTA}; none",
    ],
)
def test_reply_the_mta_did_not_fail_is_accepted(settings, offered, results):
    lead_id = offered.lead_id
    row = reply(
        settings,
        offered.mail,
        sender=GOLD_PARIS,
        body="accept",
        auth=(results,),
    )
    assert "accepted" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED


def test_only_our_mtas_results_count_when_its_id_is_set(settings, offered, monkeypatch):
    """A forger adds their own "dmarc=pass" header: with MAILFLOW_AUTHSERV_ID set, only the
    header of that id counts, wherever it is."""
    lead_id = offered.lead_id
    ours = settings.model_copy(update={"authserv_id": MTA})
    row = reply(
        ours,
        offered.mail,
        sender=GOLD_PARIS,
        body="accept",
        auth=(
            "forger.example; dmarc=pass header.from=soleil-paris.example",
            f"{MTA}; dmarc=fail header.from=soleil-paris.example",
        ),
    )
    assert "reply refused" in row.reason
    assert lead(settings, lead_id).status == LeadStatus.OFFERED


# ------------------------------------------------------------------ the token's life -------
def test_reply_token_expires_with_the_offer(settings, offered):
    lead_id, offer = offered.lead_id, offered.offer
    offer_mail = offered.mail
    token = reply_token([offer_mail.headers["Reply-To"]])
    with session_scope(settings) as s:
        tokens.verify(s, settings, "reply", token, now=offer.deadline - timedelta(seconds=1))
        with pytest.raises(tokens.LinkExpired):
            tokens.verify(s, settings, "reply", token, now=offer.deadline)
    late = offer.deadline + timedelta(minutes=1)
    row = reply(settings, offer_mail, sender=GOLD_PARIS, body="accept", at=late)
    assert row.outcome == InboundOutcome.REPLY and "reply address not valid" in row.reason
    got = lead(settings, lead_id)
    assert got.status != LeadStatus.ACCEPTED and got.assigned_installer_id is None


def test_reply_to_an_offer_no_longer_pending_is_not_accepted(settings, offered):
    """Declined by link, then "accept" by email before the deadline: the reply address died
    with the offer."""
    lead_id, offer = offered.lead_id, offered.offer
    offer_mail = offered.mail
    with session_scope(settings) as s:
        offers.decline(
            s,
            offer.id,
            offer.installer_id,
            reason="other",
            note=None,
            now=clock.now(),
            settings=settings,
        )
    row = reply(settings, offer_mail, sender=GOLD_PARIS, body="accept")
    assert "reply address not valid" in row.reason and "declined" in row.reason
    with session_scope(settings) as s:
        assert s.get(Offer, offer.id).status.value == "declined"
    assert lead(settings, lead_id).assigned_installer_id is None
