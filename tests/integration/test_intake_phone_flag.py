"""A lead whose phone is not valid in its country keeps the phone as written and carries a flag
the admin console shows (issue #16: never drop an invalid phone silently)."""

from __future__ import annotations

from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_inbound_message
from mailflow.models import Channel, InboundMessage, Lead
from support.web import signed_in_client

RAW = (
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: 8bit\r\n"
    "From: Formulaire <formulaire@isolation-solaire.example>\r\n"
    "To: leads@localhost\r\n"
    "Subject: Nouvelle demande\r\n"
    "Message-ID: <phone-flag-1@isolation-solaire.example>\r\n"
    "\r\n"
    "Nom : Camille Roche\r\n"
    "Courriel : camille.roche@example.fr\r\n"
    "Téléphone : 06 12 34 56\r\n"
    "Code postal : 87000\r\n"
    "Ville : Limoges\r\n"
).encode()


def test_invalid_phone_is_kept_flagged_and_shown(settings):
    stored = store_inbound(RAW, Channel.SMTP, settings=settings, envelope_to=["leads@localhost"])
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        row = s.get(InboundMessage, stored.id)
        lead = s.scalars(select(Lead)).one()
        assert row.lead_id == lead.id
        assert lead.phone is None and lead.email == "camille.roche@example.fr"
        assert lead.details["phone_invalid"] == "06 12 34 56"
        assert row.parsed["phone_invalid"] == "06 12 34 56"
        lead_id = lead.id
    with signed_in_client(settings) as client:
        page = client.get(f"/admin/leads/{lead_id}")
    assert page.status_code == 200
    assert '<span class="flag bad" title="phone as written: 06 12 34 56">phone invalid</span>' in (
        page.text
    )
    assert "06 12 34 56" in page.text.split('id="lead-facts"')[1]  # among the details too
