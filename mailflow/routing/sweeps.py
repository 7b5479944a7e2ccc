"""The scheduler's routing sweeps: offers whose deadline passed expire (their leads rotate),
and pool leads are offered again once an installer can take them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, select

from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.domain.routing import serving_prefix
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus, appends
from mailflow.routing.candidates import installer_rows
from mailflow.routing.offers import _bare, expire_offer, lock_lead, route_lead

# The offer with its installer's address, still open; built once (#21).
_DUE_OFFER = (
    select(Offer, Installer.email)
    .join(Installer, Installer.id == Offer.installer_id)
    .where(Offer.id == bindparam("id"), Offer.status == OfferStatus.OFFERED)
)
_DUE_OFFER_LOCKED = _DUE_OFFER.with_for_update(of=Offer, skip_locked=True)


def expire_due_offers(settings: Settings, at: datetime, *, batch: int = 200) -> int:
    """Every offer whose deadline has passed expires once, and its lead rotates. Each expiry
    is its own short transaction (SQLite has one writer: nobody waits long), and claims its
    offer with FOR UPDATE SKIP LOCKED on PostgreSQL so two schedulers never act twice."""
    done = 0
    while True:
        with session_scope(settings) as session:
            ids = list(
                session.scalars(
                    select(Offer.id)
                    .where(Offer.status == OfferStatus.OFFERED, Offer.deadline <= at)
                    .order_by(Offer.deadline, Offer.id)
                    .limit(batch)
                )
            )
        acted = 0
        for offer_id in ids:
            with session_scope(settings) as session:
                query = _DUE_OFFER_LOCKED if is_postgres(session) else _DUE_OFFER
                found = session.execute(query, {"id": offer_id}).first()
                if found is None:
                    continue  # answered meanwhile, or another scheduler has it
                offer, email = found
                # What the expiry writes and never reads back (its timeline events, the next
                # offer's routing decision and link nonces): by Core before the commit.
                appends.defer(session)
                lead = lock_lead(session, offer.lead_id)
                # Read once: the offer's row is ours since (its lock on PostgreSQL, the one
                # writer's BEGIN IMMEDIATE on SQLite), so nobody answered it meanwhile.
                if offer.status == OfferStatus.OFFERED and offer.deadline <= at:
                    expire_offer(
                        session, offer, lead, now=at, settings=settings, installer_email=email
                    )
                    done += 1
                    acted += 1
        if len(ids) < batch or not acted:
            return done


def reoffer_pool(settings: Settings, at: datetime, *, batch: int = 200) -> int:
    """Pool leads are offered again as soon as an installer becomes eligible; those an admin
    opened to the exchange, or whose claim lapsed, stay in the exchange for installers to
    claim."""
    with session_scope(settings) as session:
        rows = session.execute(
            select(Lead.id, Lead.country, Lead.postcode)
            .where(
                Lead.status == LeadStatus.POOL,
                or_(Lead.exchange_reason.is_(None), Lead.exchange_reason == "rotation"),
            )
            .order_by(Lead.created_at)
            .limit(batch)
        ).all()
        serving = [_bare(i) for i in installer_rows(session) if i.active]
    # A lead nobody active serves stays in the pool: not worth a transaction.
    ids = [
        row.id
        for row in rows
        if any(serving_prefix(c, row.postcode, row.country) is not None for c in serving)
    ]
    offered = 0
    for lead_id in ids:
        with session_scope(settings) as session:
            if route_lead(session, lead_id, now=at, settings=settings):
                offered += 1
    return offered
