"""The status vocabularies of leads and offers, and who acts (stored as these strings)."""

from __future__ import annotations

import enum


class LeadStatus(enum.StrEnum):
    NEW = "new"
    OFFERED = "offered"
    POOL = "pool"
    ACCEPTED = "accepted"
    CONTACT_ATTEMPTED = "contact_attempted"
    FIRST_CONTACT = "first_contact"
    QUOTE_SENT = "quote_sent"
    ORDER_PLACED = "order_placed"
    INSTALLATION_SCHEDULED = "installation_scheduled"
    INSTALLED = "installed"
    FAILED = "failed"
    FOLLOW_UP = "follow_up"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    # More leads from one sender than a real form sends: waits for an admin (review queue).
    HELD = "held"


class OfferStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    # A lead the installer claimed from the open exchange: no email, no link; it counts toward
    # the installer's caps like any offer (and capacity through the lead they now hold).
    CLAIMED = "claimed"


class Actor(enum.StrEnum):
    SYSTEM = "system"
    INSTALLER = "installer"
    CUSTOMER = "customer"
    ADMIN = "admin"


# The pipeline in four stages (the admin's kanban groups its columns by them): not yet with an
# installer; with an installer, being worked on; won (ordered, scheduled, installed); lost.
STATUS_GROUPS: dict[str, tuple[LeadStatus, ...]] = {
    "open": (
        LeadStatus.NEW,
        LeadStatus.HELD,
        LeadStatus.QUARANTINED,
        LeadStatus.OFFERED,
        LeadStatus.POOL,
    ),
    "in_progress": (
        LeadStatus.ACCEPTED,
        LeadStatus.CONTACT_ATTEMPTED,
        LeadStatus.FIRST_CONTACT,
        LeadStatus.QUOTE_SENT,
        LeadStatus.FOLLOW_UP,
    ),
    "won": (
        LeadStatus.ORDER_PLACED,
        LeadStatus.INSTALLATION_SCHEDULED,
        LeadStatus.INSTALLED,
    ),
    "lost": (LeadStatus.FAILED, LeadStatus.EXPIRED, LeadStatus.DUPLICATE),
}
