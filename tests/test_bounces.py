"""Bounces and auto-replies arriving at intake map back to the outbound message."""

from __future__ import annotations

from datetime import timedelta

from conftest import CORPUS

from mailflow import clock
from mailflow.db import session_scope
from mailflow.inbound.process import process_inbound_message
from mailflow.inbound.store import store_inbound
from mailflow.leads.schema import LeadIn
from mailflow.leads.service import create_lead
from mailflow.models import (
    Channel,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadStatus,
    OutboxMessage,
    OutboxState,
)


def process(settings, raw: bytes) -> InboundMessage:
    stored = store_inbound(raw, Channel.SMTP, settings=settings)
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        return s.get(InboundMessage, stored.id)


def add_installer(session, email: str) -> Installer:
    installer = Installer(email=email, name="X", country="FR", postcodes="75")
    session.add(installer)
    session.flush()
    return installer


def add_lead(session) -> Lead:
    lead_in = LeadIn.model_validate(
        {"customer": {"name": "C", "email": "c@example.fr", "postcode": "75010"}}
    )
    return create_lead(session, lead_in, now=clock.now(), source="email", channel="smtp")


def test_corpus_bounce_marks_its_outbox_row_and_recipient(settings):
    with session_scope(settings) as s:
        gone = add_installer(s, "gone@installer.example")
        lead = add_lead(s)
        s.add(
            OutboxMessage(
                id=42,
                to="gone@installer.example",
                template="offer",
                subject="x",
                state=OutboxState.SENT,
                message_id="<m42@localhost>",
                lead_id=lead.id,
                installer_id=gone.id,
            )
        )
        s.add(
            OutboxMessage(
                id=43,
                to="other@installer.example",
                template="offer",
                subject="y",
                state=OutboxState.SENT,
                message_id="<m43@localhost>",
            )
        )
    row = process(settings, (CORPUS / "leads" / "bounce_dsn.eml").read_bytes())
    assert row.outcome == InboundOutcome.BOUNCE
    with session_scope(settings) as s:
        bounced = s.get(OutboxMessage, 42)
        assert bounced.state == OutboxState.BOUNCED and "5.1.1" in bounced.last_error
        assert s.get(OutboxMessage, 43).state == OutboxState.SENT
        installer = s.query(Installer).filter_by(email="gone@installer.example").one()
        assert installer.bounced_at is not None and "5.1.1" in installer.bounce_reason
        events = [e.type for e in s.get(Lead, bounced.lead_id).events]
        assert "email_bounced" in events
        assert s.query(Lead).count() == 1  # a bounce never becomes a lead


def test_corpus_out_of_office_is_recorded_and_changes_nothing(settings):
    with session_scope(settings) as s:
        installer = add_installer(s, "contact@soleil-install.example")
        lead = add_lead(s)
        lead.status = LeadStatus.OFFERED
        s.add(
            OutboxMessage(
                to="contact@soleil-install.example",
                template="offer",
                subject="x",
                state=OutboxState.SENT,
                message_id="<offer-1@localhost>",
                lead_id=lead.id,
                installer_id=installer.id,
                created_at=clock.now() - timedelta(hours=1),
            )
        )
        lead_id = lead.id
    row = process(settings, (CORPUS / "leads" / "out_of_office.eml").read_bytes())
    assert row.outcome == InboundOutcome.AUTO_REPLY
    assert row.lead_id == lead_id
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.status == LeadStatus.OFFERED  # not an answer
        assert [e.type for e in lead.events] == ["intake", "auto_reply"]
        assert s.query(OutboxMessage).one().auto_reply_at is not None
        assert s.query(Lead).count() == 1
