"""Erasing a customer on request: their personal data goes, the statistics stay.

A customer is found by email (and the phone numbers of the leads with that email) or from one
of their leads (its email and phone). Every place their data is stored is listed, with how it is
erased, in ``mailflow.leads.personal_data``: the lead's personal fields, the timeline's and the
timers' free text, the installer's notes and progress, site visits, the survey comment, internal
notes and documents (files too), raw inbound messages (files too), mail about the lead or to
the customer (unsent mail is cancelled), audit entries about the lead and the search terms.
Status, postcode, city, figures, offers and the timeline's facts stay for the statistics; an
``erased`` event (who, when) goes on the timeline.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import get_engine
from mailflow.leads import personal_data, search
from mailflow.leads.personal_data import ERASED
from mailflow.leads.service import add_event
from mailflow.models import (
    Actor,
    InboundMessage,
    Lead,
    LeadDocument,
    LeadNote,
    OutboxMessage,
)

log = logging.getLogger(__name__)


@dataclass
class Erasure:
    leads: list[int] = field(default_factory=list)
    inbound: int = 0
    outbox: int = 0
    notes: int = 0
    documents: int = 0

    def audit_data(self) -> dict:
        """What the audit log keeps of an erasure: ids and counts, never the customer."""
        return {
            "leads": self.leads,
            "inbound": self.inbound,
            "outbox": self.outbox,
            "notes": self.notes,
            "documents": self.documents,
        }

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


def forget_on_disk(settings: Settings) -> None:
    """After an erasure is committed: SQLite's write-ahead log still holds the pages as they
    were; copy the erased pages into the database (zeroed where data went, see the
    ``secure_delete`` pragma in ``mailflow.db``) and empty the log. Best effort: a long reader
    can make SQLite keep the log; it is emptied at a later checkpoint then. PostgreSQL keeps
    old row versions until VACUUM (autovacuum), which the operator's backups outlive anyway."""
    engine = get_engine(settings)
    if engine.dialect.name != "sqlite":
        return
    # A plain DBAPI connection: outside the transaction SQLAlchemy would begin (a checkpoint
    # cannot run inside one).
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        busy, _pages, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    except sqlite3.Error as exc:
        busy = exc
    finally:
        connection.close()
    if busy:
        log.warning("erasure: the SQLite log is in use (%s); a later checkpoint empties it", busy)


def documents_dir(settings: Settings, lead_id: int) -> Path:
    return settings.data_path / "documents" / str(int(lead_id))


def delete_document_file(settings: Settings, document: LeadDocument) -> None:
    try:
        (documents_dir(settings, document.lead_id) / document.stored_name).unlink(missing_ok=True)
    except OSError:
        pass


def _customer(
    session: Session, leads: list[Lead], email: str | None, settings: Settings
) -> personal_data.Customer:
    addresses = {email.strip().lower()} if email and email.strip() else set()
    addresses |= {lead.email.lower() for lead in leads if lead.email}
    identifiers = set(addresses)
    for lead in leads:
        for value in (lead.phone, lead.customer_name, lead.street):
            if value and len(value.strip()) >= 4 and value != ERASED:
                identifiers.add(value.strip().casefold())
    return personal_data.Customer(
        settings=settings,
        lead_ids=[lead.id for lead in leads],
        inbound_ids={lead.inbound_id for lead in leads if lead.inbound_id},
        addresses=addresses,
        identifiers=identifiers,
    )


def erase_customer(
    session: Session,
    *,
    email: str | None = None,
    lead_id: int | None = None,
    by: str,
    now: datetime,
    settings: Settings,
) -> Erasure:
    """Erase the customer's personal data everywhere ``personal_data.ERASURES`` lists."""
    leads = customer_leads(session, email=email, lead_id=lead_id)
    customer = _customer(session, leads, email, settings)
    personal_data.erase_rows(session, customer)
    for lead in leads:
        lead.erased_at = lead.updated_at = now
        add_event(session, lead, "erased", at=now, actor=Actor.ADMIN, by=by)
        search.reindex(session, lead)
    counts = customer.counts
    return Erasure(
        leads=customer.lead_ids,
        inbound=counts.get(InboundMessage.__tablename__, 0),
        outbox=counts.get(OutboxMessage.__tablename__, 0),
        notes=counts.get(LeadNote.__tablename__, 0),
        documents=counts.get(LeadDocument.__tablename__, 0),
    )
