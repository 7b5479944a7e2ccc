"""Mail that answers one of our messages without the reply token (sent to the plain intake
address), and bulk mail, through ``process_inbound_message`` (#16)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_inbound_message
from mailflow.models import Channel, InboundMessage, InboundOutcome, Lead, LeadStatus, OutboxMessage
from support.offers import emails_to, lead, load_installers, new_lead, wait_for_offer
from support.paths import LOCAL_CORPUS
from support.people import GOLD_PARIS, SILVER_PARIS

MTA = "mx.mailflow.example"


@dataclass
class Offered:
    lead_id: int
    mail: OutboxMessage  # the offer email to GOLD_PARIS


@pytest.fixture
def offered(settings, worker) -> Offered:
    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    return Offered(lead_id, emails_to(settings, GOLD_PARIS, "offer")[0])


def deliver(settings, raw: bytes) -> InboundMessage:
    """Stored as the SMTP server stores it (to the plain intake address), then processed."""
    stored = store_inbound(raw, Channel.SMTP, settings=settings, envelope_to=["leads@localhost"])
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        return s.get(InboundMessage, stored.id)


def thread_reply(
    offer_mail: OutboxMessage,
    *,
    sender: str,
    body: str,
    in_reply_to: str | None = None,
    references: str | None = None,
    auth: str | None = None,
    signature: str = "",
) -> bytes:
    msg = EmailMessage()
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = f"Camille Roux <{sender}>"
    msg["To"] = "leads@localhost"  # not the reply+token address of the offer
    msg["Subject"] = "Re: " + offer_mail.subject
    msg["In-Reply-To"] = in_reply_to or offer_mail.message_id
    msg["References"] = references or offer_mail.message_id
    msg["Message-ID"] = f"<thread-{clock.now().timestamp()}-{sender}@x>"
    quoted = "> " + offer_mail.body_text.replace("\n", "\n> ")
    msg.set_content(f"{body}\n\n{signature}\nLe ven. 4 déc. 2026, Mailflow a écrit :\n{quoted}")
    return msg.as_bytes()


def lead_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Lead))


# A signature and a quoted customer block that would make a lead if they were read.
SIGNATURE = (
    "Camille Roux\nNom : Claire Dubois\nTéléphone : 01 40 34 70 01\n"
    "Courriel : contact@soleil-paris.example\nCode postal : 75010\n"
)


def test_answer_to_the_plain_intake_address_accepts_the_offer(settings, offered):
    before = lead_count(settings)
    row = deliver(settings, thread_reply(offered.mail, sender=GOLD_PARIS, body="Accepter"))
    assert row.outcome == InboundOutcome.REPLY and "accepted" in row.reason, row.reason
    assert row.lead_id == offered.lead_id
    assert row.parsed["reply_to_outbox"] == offered.mail.id
    got = lead(settings, offered.lead_id)
    assert got.status == LeadStatus.ACCEPTED and got.assigned_installer.email == GOLD_PARIS
    (event,) = [e for e in got.events if e.type == "email_reply"]
    assert event.data["sender"] == GOLD_PARIS and event.data["outbox_id"] == offered.mail.id
    assert "accepted" in event.data["result"]
    assert lead_count(settings) == before


def test_a_reply_with_lead_like_lines_never_becomes_a_lead(settings, offered):
    before = lead_count(settings)
    row = deliver(
        settings,
        thread_reply(
            offered.mail,
            sender=GOLD_PARIS,
            body="Bonjour, le toit est-il en ardoise ?",
            signature=SIGNATURE,
        ),
    )
    assert row.outcome == InboundOutcome.REPLY and "does not start with" in row.reason
    assert lead_count(settings) == before
    got = lead(settings, offered.lead_id)
    assert got.status == LeadStatus.OFFERED
    assert [e.type for e in got.events].count("email_reply") == 1


def test_reply_from_someone_else_is_recorded_not_acted_on(settings, offered):
    row = deliver(settings, thread_reply(offered.mail, sender="intruder@example.org", body="oui"))
    assert row.outcome == InboundOutcome.REPLY and "not from the installer" in row.reason
    got = lead(settings, offered.lead_id)
    assert got.status == LeadStatus.OFFERED
    (event,) = [e for e in got.events if e.type == "email_reply"]
    assert event.data["sender"] == "intruder@example.org"


def test_reply_the_mta_found_forged_is_refused(settings, offered):
    row = deliver(
        settings,
        thread_reply(
            offered.mail,
            sender=GOLD_PARIS,
            body="accept",
            auth=f"{MTA}; dmarc=fail (p=reject) header.from=soleil-paris.example",
        ),
    )
    assert row.outcome == InboundOutcome.REPLY and "reply refused" in row.reason
    assert lead(settings, offered.lead_id).status == LeadStatus.OFFERED


def test_forged_references_to_an_unknown_id_are_not_a_reply(settings, offered):
    """Anyone can write References: an id we never sent makes nothing a reply."""
    before = lead_count(settings)
    raw = thread_reply(
        offered.mail,
        sender=GOLD_PARIS,
        body="accept",
        in_reply_to="<made-up@elsewhere.example>",
        references="<made-up@elsewhere.example>",
    )
    row = deliver(settings, raw)
    assert row.outcome == InboundOutcome.QUARANTINED, row.reason
    assert lead(settings, offered.lead_id).status == LeadStatus.OFFERED
    assert lead_count(settings) == before


def test_forged_references_on_a_real_lead_still_make_a_lead(settings, worker):
    raw = (LOCAL_CORPUS / "leads" / "notlead_en_forged_references_lead.eml").read_bytes()
    row = deliver(settings, raw)
    assert row.outcome == InboundOutcome.LEAD
    with session_scope(settings) as s:
        assert s.get(Lead, row.lead_id).customer_name == "Oliver Grant"


def test_a_decline_by_thread_reply_moves_on(settings, offered):
    row = deliver(settings, thread_reply(offered.mail, sender=GOLD_PARIS, body="Refuser, merci"))
    assert "declined" in row.reason
    wait_for_offer(settings, offered.lead_id, 2)
    assert emails_to(settings, SILVER_PARIS, "offer")


def test_reply_to_another_of_our_emails_is_a_reply_on_the_lead(settings, offered):
    """An answer to the contact details (or any other mail of ours about a lead) is recorded;
    it quotes the customer's details, and is still no lead."""
    before = lead_count(settings)
    deliver(settings, thread_reply(offered.mail, sender=GOLD_PARIS, body="accept"))
    details = emails_to(settings, GOLD_PARIS, "contact_details")[0]
    row = deliver(
        settings,
        thread_reply(details, sender=GOLD_PARIS, body="Le client ne répond pas.", signature=""),
    )
    assert row.outcome == InboundOutcome.REPLY
    assert row.reason == f"reply to our contact_details email #{details.id}"
    assert lead_count(settings) == before
    got = lead(settings, offered.lead_id)
    assert [e.data["template"] for e in got.events if e.type == "email_reply"][-1] == (
        "contact_details"
    )


def test_out_of_office_naming_our_offer_stays_an_auto_reply(settings, offered):
    raw = thread_reply(offered.mail, sender=GOLD_PARIS, body="Je suis absente.")
    raw = raw.replace(b"Subject: Re: ", b"Auto-Submitted: auto-replied\nSubject: Re: ", 1)
    row = deliver(settings, raw)
    assert row.outcome == InboundOutcome.AUTO_REPLY
    assert lead(settings, offered.lead_id).status == LeadStatus.OFFERED


@pytest.mark.parametrize(
    "sample",
    [
        "notlead_en_newsletter_imprint",
        "notlead_de_newsletter_impressum",
        "notlead_fr_newsletter_mentions",
    ],
)
def test_newsletters_are_not_leads(settings, worker, sample):
    before = lead_count(settings)
    row = deliver(settings, (LOCAL_CORPUS / "leads" / f"{sample}.eml").read_bytes())
    assert row.outcome == InboundOutcome.AUTO_REPLY
    assert row.reason.startswith("bulk mail, not a lead")
    assert row.lead_id is None and lead_count(settings) == before


def test_bulk_mail_from_an_installer_is_not_taken_for_an_out_of_office(settings, offered):
    """A newsletter from an address we mailed is no answer to our mail: the offer email is
    not marked as auto-replied (only In-Reply-To/References would link them)."""
    msg = EmailMessage()
    msg["From"] = GOLD_PARIS
    msg["To"] = "leads@localhost"
    msg["Subject"] = "Notre lettre d'information"
    msg["List-Id"] = "<lettre.soleil-paris.example>"
    msg.set_content("Nos nouveautés de décembre.\n\nSe désinscrire : https://x.example/u\n")
    row = deliver(settings, msg.as_bytes())
    assert row.outcome == InboundOutcome.AUTO_REPLY and "bulk mail" in row.reason
    with session_scope(settings) as s:
        assert s.get(OutboxMessage, offered.mail.id).auto_reply_at is None


def test_bulk_lead_platform_notification_is_a_lead(settings, worker):
    raw = (LOCAL_CORPUS / "leads" / "notlead_de_platform_bulk_lead.eml").read_bytes()
    row = deliver(settings, raw)
    assert row.outcome == InboundOutcome.LEAD
    with session_scope(settings) as s:
        assert s.get(Lead, row.lead_id).customer_name == "Sabine Krüger"
