"""Creating leads from validated intake, with the duplicate rule of PRODUCT.md §2."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, TextClause, bindparam, or_, select, text
from sqlalchemy.orm import Session

from mailflow.domain.intake.schema import LeadIn
from mailflow.models import Actor, Lead, LeadEvent, LeadStatus, appends


def add_event(
    session: Session,
    lead: Lead,
    type_: str,
    *,
    at: datetime,
    actor: Actor = Actor.SYSTEM,
    **data: Any,
) -> None:
    """A timeline line of ``lead`` (which may still be pending), in the caller's transaction
    (``models.appends``: deferred where the transaction defers such rows)."""
    values = {"lead_id": lead.id, "type": type_, "at": at, "actor": actor, "data": data}
    appends.add(session, LeadEvent, values, lead=lead)


def serialise_customer(
    session: Session, lead_in: LeadIn, *, reserve_id: bool = False
) -> int | None:
    """Two submissions of one customer processed at the same moment must not both become
    originals. SQLite already serialises writers (BEGIN IMMEDIATE); on PostgreSQL a
    transaction-scoped advisory lock per (postcode, email) and (postcode, phone) does it.
    ``reserve_id`` (PostgreSQL): the same statement reserves the new lead's id and returns
    it, without flushing the session first (see ``create_lead``'s ``write_later``)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    customer = lead_in.customer
    keys = sorted(
        int.from_bytes(
            hashlib.sha256(f"{customer.postcode}|{contact}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        for contact in (customer.email, customer.phone)
        if contact
    )
    # One statement, the locks taken in a fixed order (left to right): no deadlock between two
    # such transactions.
    params = {f"key{n}": key for n, key in enumerate(keys)}
    if reserve_id:
        statement = _locks_statement(len(keys), reserve_id=True)
        return session.connection().scalar(statement, params)  # the connection: no autoflush
    if keys:
        session.execute(_locks_statement(len(keys), reserve_id=False), params)
    return None


@cache
def _locks_statement(locks: int, *, reserve_id: bool) -> TextClause:
    columns = [f"pg_advisory_xact_lock(:key{n})" for n in range(locks)]
    if reserve_id:
        columns.insert(0, "nextval(pg_get_serial_sequence('leads', 'id'))")
    return text(f"SELECT {', '.join(columns)}")


def find_original(
    session: Session, lead_in: LeadIn, *, now: datetime, window_days: int, autoflush: bool = True
) -> Lead | None:
    """The first lead of the same customer (email or phone) at the same postcode within the
    window, if any. ``autoflush=False``: what the session has pending is not written first
    (the caller knows no lead is among it)."""
    customer = lead_in.customer
    if not customer.email and not customer.phone:
        return None
    query = _original_statement(bool(customer.email), bool(customer.phone), autoflush)
    params = {
        "postcode": customer.postcode,
        "email": customer.email,
        "phone": customer.phone,
        "since": now - timedelta(days=window_days),
    }
    return session.scalar(query, params)


@cache
def _original_statement(by_email: bool, by_phone: bool, autoflush: bool) -> Select:
    # Built once per shape: building it per lead cost more CPU than its round trip (#21).
    same_contact = []
    if by_email:
        same_contact.append(Lead.email == bindparam("email"))
    if by_phone:
        same_contact.append(Lead.phone == bindparam("phone"))
    return (
        select(Lead)
        .where(
            Lead.postcode == bindparam("postcode"),
            or_(*same_contact),
            Lead.created_at >= bindparam("since"),
            Lead.duplicate_of_id.is_(None),
        )
        .order_by(Lead.created_at, Lead.id)
        .limit(1)
        .execution_options(autoflush=autoflush)
    )


def create_lead(
    session: Session,
    lead_in: LeadIn,
    *,
    now: datetime,
    source: str,
    channel: str,
    inbound_id: int | None = None,
    window_days: int = 30,
    actor: Actor = Actor.SYSTEM,
    write_later: bool = False,
) -> Lead:
    """Insert the lead (status ``new``, or ``duplicate`` of an earlier one) with its intake event.
    The caller commits; routing is started by the caller after commit. ``write_later``
    (PostgreSQL): the lead's id is reserved with the customer's locks and the lead is written
    with the caller's next flush, with what else it has pending (the inbound job: its row's
    counters and outcome, one UPDATE; #21). The caller flushes before it writes anything else
    that names the lead, and has no lead pending (the duplicate check does not flush)."""
    customer = lead_in.customer
    reserved_id = serialise_customer(session, lead_in, reserve_id=write_later)
    original = find_original(
        session, lead_in, now=now, window_days=window_days, autoflush=reserved_id is None
    )
    lead = Lead(
        id=reserved_id,
        status=LeadStatus.DUPLICATE if original else LeadStatus.NEW,
        source=(lead_in.source.value if lead_in.source else source),
        external_id=lead_in.external_id,
        duplicate_of_id=original.id if original else None,
        product=lead_in.product.value if lead_in.product else None,
        building_type=lead_in.building_type.value if lead_in.building_type else None,
        grid_connection=lead_in.grid_connection.value if lead_in.grid_connection else None,
        customer_name=customer.name,
        email=customer.email,
        phone=customer.phone,
        street=customer.street,
        postcode=customer.postcode,
        city=customer.city,
        country=customer.country or "FR",
        language=customer.language,
        reachability=customer.reachability,
        message=lead_in.message,
        details=lead_in.details,
        inbound_id=inbound_id,
        created_at=now,
        updated_at=now,
        # Known to be empty: routing in the same transaction (the inbound job) clears them
        # without writing the row again.
        waiting_since=None,
        held_until=None,
    )
    session.add(lead)
    if reserved_id is None:
        session.flush()  # SQLite: the id comes with the INSERT
    add_event(
        session,
        lead,
        "intake",
        at=now,
        actor=actor,
        channel=channel,
        source=lead.source,
        inbound_id=inbound_id,
    )
    if original:
        add_event(
            session,
            lead,
            "duplicate",
            at=now,
            duplicate_of=original.id,
            reason=f"same customer and postcode within {window_days} days",
        )
    return lead
