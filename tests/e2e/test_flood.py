"""A flood of fake leads costs nobody anything: beyond the intake limit (5 leads per sender
address per 10 minutes by default) leads are held for an admin's review instead of being
offered; admins release or reject them; and declines for "spam" do not count against the
installer's score until an admin confirms the lead was real."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.inbound.smtp import IntakeController
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_one
from mailflow.leads.service import add_event, create_lead
from mailflow.models import (
    Channel,
    InboundMessage,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.ratings.service import recompute_installer
from mailflow.routing.offers import decline, route_lead
from support.offers import load_installers
from support.people import GOLD_PARIS
from support.web import post, signed_in_client

FLOODER = "promo@flood.example"


def lead_email(i: int, sender: str = FLOODER) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Formulaire <{sender}>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = f"Nouvelle demande {i}"
    msg["Message-ID"] = f"<flood-{sender}-{i}@flood.example>"
    msg.set_content(
        f"Nom: Client Numéro{i}\nCourriel: client{i}@example.fr\n"
        f"Code postal: 750{i % 20 + 1:02d}\nVille: Paris\nProduit: pv\n"
    )
    return msg.as_bytes()


def send_over_smtp(settings, messages: list[bytes], sender: str = FLOODER) -> None:
    """Real aiosmtpd on a real socket; the stored messages are then processed in order."""
    controller = IntakeController(settings, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            for raw in messages:
                smtp.sendmail(sender, ["leads@localhost"], raw)
    finally:
        controller.stop()


def process_all(settings) -> None:
    with session_scope(settings) as s:
        ids = list(s.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))
    for inbound_id in ids:
        process_one(inbound_id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        for lead_id in s.scalars(select(Lead.id).where(Lead.status == LeadStatus.NEW)):
            route_lead(s, lead_id, now=clock.now(), settings=settings)


def statuses(settings) -> list[str]:
    with session_scope(settings) as s:
        return [str(v) for v in s.scalars(select(Lead.status).order_by(Lead.id))]


def test_twelve_leads_from_one_sender_first_five_offered_the_rest_held(settings, broker):
    load_installers(settings)
    send_over_smtp(settings, [lead_email(i) for i in range(12)])
    process_all(settings)
    assert statuses(settings) == ["offered"] * 5 + ["held"] * 7
    with session_scope(settings) as s:
        held = list(s.scalars(select(Lead).where(Lead.status == LeadStatus.HELD)))
        assert not s.scalar(
            select(func.count()).select_from(Offer).where(Offer.lead_id.in_([x.id for x in held]))
        )
        assert "more than 5 leads from promo@flood.example" in held[0].events[-1].data["reason"]
    first, second = held[0].id, held[1].id
    with signed_in_client(settings) as client:
        page = client.get("/admin/review").text
        assert f'id="held-{first}"' in page and f'id="held-{second}"' in page
        released = post(
            client,
            f"/admin/leads/{first}/rotate",
            {"reason": "released from the review queue", "next": "/admin/review"},
            page="/admin/review",
        )
        assert released.status_code == 303 and released.headers["location"] == "/admin/review"
        rejected = post(
            client, f"/admin/leads/{second}/spam", {"next": "/admin/review"}, page="/admin/review"
        )
        assert rejected.status_code == 303
        page = client.get("/admin/review").text
        assert f'id="held-{first}"' not in page and f'id="held-{second}"' not in page
    with session_scope(settings) as s:
        assert s.get(Lead, first).status == LeadStatus.OFFERED
        assert s.scalar(select(func.count()).select_from(Offer).where(Offer.lead_id == first))
        rejected_lead = s.get(Lead, second)
        assert rejected_lead.status == LeadStatus.FAILED and rejected_lead.spam


def test_the_window_passes_and_trusted_platforms_have_no_limit(settings, broker):
    load_installers(settings)
    start = clock.now()
    trusted = settings.model_copy(update={"lead_limit_trusted_senders": "@calculator.example"})

    for i in range(8):
        store_inbound(
            lead_email(i, "noreply@calculator.example"),
            Channel.SMTP,
            settings=trusted,
            envelope_from="noreply@calculator.example",
        )
    with session_scope(settings) as s:
        ids = list(s.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))
    for inbound_id in ids:
        process_one(inbound_id, now=start, settings=trusted)
    assert LeadStatus.HELD not in statuses(settings)
    # An untrusted sender: 5 leads, then 11 minutes later 5 more are fine again.
    for i in range(10):
        with session_scope(settings) as s:
            row = InboundMessage(
                channel=Channel.SMTP,
                dedup_key=f"slow-{i}",
                size=1,
                raw=lead_email(100 + i, "slow@form.example"),
                envelope_from="slow@form.example",
                received_at=start + timedelta(minutes=0 if i < 5 else 11),
            )
            s.add(row)
            s.flush()
            inbound_id = row.id
        process_one(inbound_id, now=start, settings=settings)
    assert LeadStatus.HELD not in statuses(settings)


def lead_at(session, i: int, now, postcode: str = "75010") -> Lead:
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {"name": f"Client {i}", "email": f"c{i}@example.fr", "postcode": postcode},
        }
    )
    return create_lead(session, lead_in, now=now, source="email", channel="smtp")


def test_spam_declines_do_not_cost_the_tier_until_an_admin_confirms(settings, broker):
    load_installers(settings)
    now = clock.now()
    with session_scope(settings) as s:
        gold = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        gold_id = gold.id
        # A good year: six leads accepted within the hour, progress recorded on each.
        for i in range(6):
            lead = lead_at(s, i, now - timedelta(days=30))
            lead.status, lead.assigned_installer_id = LeadStatus.QUOTE_SENT, gold.id
            offered = now - timedelta(days=30)
            s.add(
                Offer(
                    lead=lead,
                    installer_id=gold.id,
                    status=OfferStatus.ACCEPTED,
                    offered_at=offered,
                    deadline=offered + timedelta(days=1),
                    answered_at=offered + timedelta(minutes=30),
                )
            )
            add_event(s, lead, "status", at=offered + timedelta(hours=2), status="quote_sent")
        assert recompute_installer(s, gold, now=now, settings=settings) is None
        assert gold.tier == "gold"
        score = gold.score
        # Then a flood of fake leads, each declined as spam by the gold installer.
        fake = []
        for i in range(12):
            lead = lead_at(s, 100 + i, now, postcode="92100")  # only the gold one serves 92
            s.flush()
            offer = route_lead(s, lead.id, now=now, settings=settings)
            assert offer.installer_id == gold.id
            decline(s, offer.id, gold.id, reason="spam", note=None, now=now, settings=settings)
            fake.append(lead.id)
    with session_scope(settings) as s:
        gold = s.get(Installer, gold_id)
        assert recompute_installer(s, gold, now=now, settings=settings) is None
        assert (gold.tier, gold.score) == ("gold", score)
    # The admin sees them and says they were real leads after all: now they count.
    with signed_in_client(settings) as client:
        page = client.get("/admin/review").text
        assert all(f'href="/admin/leads/{lead_id}"' in page for lead_id in fake)
        for lead_id in fake:
            done = post(client, f"/admin/review/leads/{lead_id}/real", {}, page="/admin/review")
            assert done.status_code == 303
        assert 'id="spam-decline-list"' not in client.get("/admin/review").text
    with session_scope(settings) as s:
        gold = s.get(Installer, gold_id)
        change = recompute_installer(s, gold, now=now, settings=settings)
        assert change is not None and gold.tier == "silver" and gold.score < score
