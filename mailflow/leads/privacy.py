"""Erasing a customer on request: their personal data goes, the statistics stay.

A customer is found by email (and the phone numbers of the leads with that email) or from one
of their leads (its email and phone). For each of their leads:

- personal fields are anonymised: name becomes ``[erased]``; email, phone, street,
  reachability and message are cleared; free-text details (``extra``) go; postcode, city,
  country, product, the project figures, status, offers and timeline stay (statistics);
- the raw inbound messages that brought them lose their bytes (database or file), their
  envelope sender and what the parser read from them;
- outgoing mail about the lead loses its bodies; mail to the customer loses its address;
- internal notes and attached documents are deleted; site visit addresses and notes and the
  survey comment are cleared;
- an ``erased`` event (who, when) goes on the timeline; the search terms are rebuilt.

Inbound messages that never became a lead are found by their envelope sender only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.leads import search
from mailflow.leads.service import add_event
from mailflow.models import (
    Actor,
    InboundMessage,
    Lead,
    LeadDocument,
    LeadNote,
    OutboxMessage,
    SiteVisit,
    Survey,
)

ERASED = "[erased]"
ERASED_ADDRESS = "erased@erased.invalid"


@dataclass
class Erasure:
    leads: list[int] = field(default_factory=list)
    inbound: int = 0
    outbox: int = 0
    notes: int = 0
    documents: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.leads)} lead{'s' if len(self.leads) != 1 else ''} anonymised, "
            f"{self.inbound} inbound message(s), {self.outbox} outgoing message(s), "
            f"{self.notes} note(s) and {self.documents} document(s) erased"
        )


def customer_leads(
    session: Session, *, email: str | None = None, lead_id: int | None = None
) -> list[Lead]:
    """The leads of the customer with this email, or of the customer of this lead."""
    emails: set[str] = set()
    phones: set[str] = set()
    if email:
        emails.add(email.strip().lower())
    if lead_id is not None:
        lead = session.get(Lead, lead_id)
        if lead is None:
            return []
        if lead.email:
            emails.add(lead.email.lower())
        if lead.phone:
            phones.add(lead.phone)
    if emails:
        phones |= {
            p
            for p in session.scalars(
                select(Lead.phone).where(
                    func.lower(Lead.email).in_(emails), Lead.phone.is_not(None)
                )
            )
        }
    conditions = []
    if emails:
        conditions.append(func.lower(Lead.email).in_(emails))
    if phones:
        conditions.append(Lead.phone.in_(phones))
    if lead_id is not None:
        conditions.append(Lead.id == lead_id)
    if not conditions:
        return []
    return list(session.scalars(select(Lead).where(or_(*conditions)).order_by(Lead.id)))


def drop_raw(session: Session, settings: Settings, row: InboundMessage) -> None:
    path = row.raw_path
    row.raw, row.raw_path = None, None
    if not path:
        return
    session.flush()
    # Blobs are named by content: another message with the same bytes keeps the file.
    if session.scalar(select(func.count()).where(InboundMessage.raw_path == path)):
        return
    try:
        (settings.data_path / path).unlink(missing_ok=True)
    except OSError:
        pass


def erase_inbound(session: Session, settings: Settings, row: InboundMessage) -> None:
    drop_raw(session, settings, row)
    row.envelope_from = None
    row.parsed = {"kind": (row.parsed or {}).get("kind"), "erased": True}


def documents_dir(settings: Settings, lead_id: int) -> Path:
    return settings.data_path / "documents" / str(int(lead_id))


def delete_document_file(settings: Settings, document: LeadDocument) -> None:
    try:
        (documents_dir(settings, document.lead_id) / document.stored_name).unlink(missing_ok=True)
    except OSError:
        pass


def erase_customer(
    session: Session,
    *,
    email: str | None = None,
    lead_id: int | None = None,
    by: str,
    now: datetime,
    settings: Settings,
) -> Erasure:
    """Anonymise every lead of the customer (see the module's description)."""
    leads = customer_leads(session, email=email, lead_id=lead_id)
    result = Erasure()
    addresses = {e.lower() for e in ([email] if email else []) if e}
    addresses |= {lead.email.lower() for lead in leads if lead.email}
    ids = [lead.id for lead in leads]
    for lead in leads:
        lead.customer_name = ERASED
        lead.email = lead.phone = lead.street = lead.reachability = lead.message = None
        details = dict(lead.details or {})
        details.pop("extra", None)
        lead.details = details
        lead.erased_at = lead.updated_at = now
        add_event(session, lead, "erased", at=now, actor=Actor.ADMIN, by=by)
        search.reindex(session, lead)
        result.leads.append(lead.id)
    inbound_ids = {lead.inbound_id for lead in leads if lead.inbound_id}
    conditions = []
    if ids:
        conditions.append(InboundMessage.lead_id.in_(ids))
    if inbound_ids:
        conditions.append(InboundMessage.id.in_(inbound_ids))
    if addresses:
        conditions.append(func.lower(InboundMessage.envelope_from).in_(addresses))
    if conditions:
        for row in session.scalars(select(InboundMessage).where(or_(*conditions))):
            erase_inbound(session, settings, row)
            result.inbound += 1
    conditions = []
    if ids:
        conditions.append(OutboxMessage.lead_id.in_(ids))
    if addresses:
        conditions.append(func.lower(OutboxMessage.to).in_(addresses))
    if conditions:
        for row in session.scalars(select(OutboxMessage).where(or_(*conditions))):
            row.raw = row.body_text = row.body_html = None
            row.attachments = None
            if row.to.lower() in addresses:
                row.to, row.headers = ERASED_ADDRESS, {}
                row.subject = ERASED
            result.outbox += 1
    if ids:
        for note in session.scalars(select(LeadNote).where(LeadNote.lead_id.in_(ids))):
            session.delete(note)
            result.notes += 1
        for document in session.scalars(select(LeadDocument).where(LeadDocument.lead_id.in_(ids))):
            delete_document_file(settings, document)
            session.delete(document)
            result.documents += 1
        for visit in session.scalars(select(SiteVisit).where(SiteVisit.lead_id.in_(ids))):
            visit.address = visit.note = None
        for survey in session.scalars(select(Survey).where(Survey.lead_id.in_(ids))):
            survey.comment = None
    return result
