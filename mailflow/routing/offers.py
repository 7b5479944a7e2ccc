"""The offer lifecycle: route a lead to the next installer, accept, decline, expire, pool.

Every function runs inside the caller's transaction with the lead locked, writes the state
change, its timeline events and its emails (outbox) together, and returns what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.deadlines import offer_deadline
from mailflow.domain.effects import NOTHING, Outcome, QueueEmail, outcome
from mailflow.domain.events import LeadAccepted, LeadAssigned, LeadNeedsInstaller, LeadPooled
from mailflow.domain.offer import OfferClosed
from mailflow.domain.routing import Candidate, Choice, available_days, choose, serving_prefix
from mailflow.models import (
    HELD_STATUSES,
    Actor,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)

log = logging.getLogger(__name__)

ROUTABLE = frozenset({LeadStatus.NEW, LeadStatus.POOL})


def lock_lead(session: Session, lead_id: int) -> Lead | None:
    query = select(Lead).where(Lead.id == lead_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def lock_offer(session: Session, offer_id: int) -> Offer | None:
    query = select(Offer).where(Offer.id == offer_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def load_candidates(session: Session, lead: Lead, now: datetime) -> list[Candidate]:
    """Installers of the lead's country with the figures the rules need."""
    installers = [
        i
        for i in session.scalars(select(Installer).where(Installer.country == lead.country))
        # Only those serving the postcode need figures: the rest are ineligible anyway.
        if serving_prefix(_bare(i), lead.postcode, lead.country) is not None
    ]
    if not installers:
        return []
    ids = [i.id for i in installers]
    since = now - timedelta(days=30)
    # Both read the last 30 days through ix_offers_installer_offered_at: the cost does not grow
    # with the years of history. An installer without an offer in 30 days waited longest.
    recent, last = {}, {}
    for installer_id, count, latest in session.execute(
        select(Offer.installer_id, func.count(), func.max(Offer.offered_at))
        .where(Offer.installer_id.in_(ids), Offer.offered_at >= since)
        .group_by(Offer.installer_id)
    ):
        recent[installer_id], last[installer_id] = count, latest
    held = dict(
        session.execute(
            select(Lead.assigned_installer_id, func.count())
            .where(Lead.assigned_installer_id.in_(ids), Lead.status.in_(HELD_STATUSES))
            .group_by(Lead.assigned_installer_id)
        ).all()
    )
    return [
        Candidate(
            id=i.id,
            email=i.email,
            country=i.country,
            postcodes=tuple(i.postcode_prefixes),
            tier=i.tier,
            active=i.active,
            vacation_from=i.vacation_from,
            vacation_until=i.vacation_until,
            bounced=i.bounced_at is not None,
            capacity=i.capacity,
            open_leads=held.get(i.id, 0),
            rating=i.rating,
            offers_30d=recent.get(i.id, 0),
            available_days=available_days(i.vacation_from, i.vacation_until, now),
            last_offer_at=as_utc(last[i.id]) if i.id in last else None,
        )
        for i in installers
    ]


def _bare(installer: Installer) -> Candidate:
    return Candidate(
        id=installer.id,
        email=installer.email,
        country=installer.country,
        postcodes=tuple(installer.postcode_prefixes),
    )


def _uow(session: Session, settings: Settings, now: datetime) -> UnitOfWork:
    return UnitOfWork(session, settings, now)


def offer_next(session: Session, lead: Lead, *, now: datetime, settings: Settings) -> Offer | None:
    """Offer the (locked) lead to the best eligible installer, or put it in the pool."""
    uow = _uow(session, settings, now)
    outcome, offer = next_offer(uow, lead)
    uow.apply(outcome)
    return offer


def next_offer(uow: UnitOfWork, lead: Lead) -> tuple[Outcome, Offer | None]:
    """The next offer of the (locked) lead: stored, with what it causes (or the pool)."""
    session, now = uow.session, uow.now
    history = session.execute(
        select(Offer.installer_id, Offer.requeued_at)
        .where(Offer.lead_id == lead.id)
        .order_by(Offer.id)
    ).all()
    offered = {installer_id for installer_id, _ in history}
    candidates = load_candidates(session, lead, now)
    choice = choose(
        candidates,
        postcode=lead.postcode,
        country=lead.country,
        offered=offered,
        now=now,
        shares=uow.settings.share_weights,
    )
    if choice is None:
        # Second chance: once the current cycle is over, those whose last offer of this lead
        # expired and who asked to be put back in line (mailflow.routing.second_chance).
        latest = {installer_id: requeued for installer_id, requeued in history}
        again = {i for i, requeued in latest.items() if requeued is not None}
        if again:
            choice = choose(
                candidates,
                postcode=lead.postcode,
                country=lead.country,
                offered=offered - again,
                now=now,
                shares=uow.settings.share_weights,
            )
            if choice is not None:
                choice = Choice(choice.installer, f"second chance; {choice.reason}")
    if choice is None:
        return lead_rules.pool(lead, at=now, offered_before=bool(offered)), None
    installer = session.get(Installer, choice.installer.id)
    offer = Offer(
        lead_id=lead.id,
        installer_id=installer.id,
        status=OfferStatus.OFFERED,
        offered_at=now,
        deadline=offer_deadline(now, country=installer.country, timezone=installer.timezone),
        routing_reason=choice.reason,
    )
    session.add(offer)
    session.flush()
    return offer_rules.offered(lead, offer, installer.email, at=now), offer


def on_lead_needs_installer(uow: UnitOfWork, event: LeadNeedsInstaller) -> Outcome:
    """Reaction: a lead back in rotation is offered to the next installer (or pooled)."""
    lead = uow.session.get(Lead, event.lead_id)
    if lead is None or lead.status not in ROUTABLE:
        return NOTHING
    return next_offer(uow, lead)[0]


def alert_admins(uow: UnitOfWork, event: LeadPooled) -> Outcome:
    """Reaction: the admins hear of a lead nobody can take."""
    return outcome(QueueEmail("admin_alert", lead_id=event.lead_id))


def acceptance_emails(uow: UnitOfWork, event: LeadAccepted | LeadAssigned) -> Outcome:
    """Reaction: what a lead's new holder gets, whether they accepted an offer or an admin
    assigned the lead: the acceptance email (status links, dashboard, vacation) and the
    contact-details email (a reveal link)."""
    who = {"lead_id": event.lead_id, "installer_id": event.installer_id}
    return outcome(QueueEmail("offer_accepted", **who), QueueEmail("contact_details", **who))


def route_lead(
    session: Session, lead_id: int, *, now: datetime, settings: Settings
) -> Offer | None:
    """Start (or restart from the pool) the rotation of a lead. Idempotent."""
    lead = lock_lead(session, lead_id)
    if lead is None or lead.status not in ROUTABLE:
        return None
    return offer_next(session, lead, now=now, settings=settings)


# ------------------------------------------------------------------------- answers ---------
@dataclass
class AcceptResult:
    offer: Offer
    lead: Lead


def _open_offer(
    session: Session, offer_id: int, installer_id: int | None, *, now: datetime, settings: Settings
) -> tuple[Offer, Lead]:
    """Lock the lead and the offer and check that the offer can still be answered."""
    offer = session.get(Offer, offer_id)
    if offer is None or (installer_id is not None and offer.installer_id != installer_id):
        raise OfferClosed("invalid")
    lead = lock_lead(session, offer.lead_id)
    offer = lock_offer(session, offer_id)
    session.refresh(offer)
    if offer.status == OfferStatus.OFFERED and now >= offer.deadline:
        expire_offer(session, offer, lead, now=now, settings=settings)
    code = offer_rules.closed_code(offer.status, lead.status)
    if code is not None:
        raise OfferClosed(code, offer)
    return offer, lead


def accept(
    session: Session,
    offer_id: int,
    installer_id: int | None,
    *,
    now: datetime,
    settings: Settings,
    actor: Actor = Actor.INSTALLER,
    channel: str = "link",
) -> AcceptResult:
    offer, lead = _open_offer(session, offer_id, installer_id, now=now, settings=settings)
    installer = session.get(Installer, offer.installer_id)
    _uow(session, settings, now).apply(
        offer_rules.accept(offer, lead, installer, at=now, actor=actor, via=channel)
    )
    return AcceptResult(offer, lead)


def decline(
    session: Session,
    offer_id: int,
    installer_id: int | None,
    *,
    reason: str,
    note: str | None,
    now: datetime,
    settings: Settings,
    channel: str = "link",
) -> Offer:
    offer, lead = _open_offer(session, offer_id, installer_id, now=now, settings=settings)
    installer = session.get(Installer, offer.installer_id)
    _uow(session, settings, now).apply(
        offer_rules.decline(offer, lead, installer, reason=reason, note=note, at=now, via=channel)
    )
    return offer


def expire_offer(
    session: Session, offer: Offer, lead: Lead, *, now: datetime, settings: Settings
) -> None:
    """Deadline passed: the offer expires and the lead moves on (both locked by the caller)."""
    installer = session.get(Installer, offer.installer_id)
    _uow(session, settings, now).apply(offer_rules.expire(offer, lead, installer.email, at=now))


def release_to_rotation(
    session: Session,
    lead: Lead,
    *,
    now: datetime,
    settings: Settings,
    reason: str,
    actor: Actor = Actor.SYSTEM,
) -> None:
    """A held lead goes back (released by the installer, lapsed reservation, admin)."""
    _uow(session, settings, now).apply(lead_rules.release(lead, at=now, actor=actor, reason=reason))


# ------------------------------------------------------------------------- sweeps ----------
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
                query = select(Offer).where(
                    Offer.id == offer_id, Offer.status == OfferStatus.OFFERED
                )
                if is_postgres(session):
                    query = query.with_for_update(skip_locked=True)
                offer = session.scalar(query)
                if offer is None:
                    continue  # answered meanwhile, or another scheduler has it
                lead = lock_lead(session, offer.lead_id)
                session.refresh(offer)
                if offer.status == OfferStatus.OFFERED and offer.deadline <= at:
                    expire_offer(session, offer, lead, now=at, settings=settings)
                    done += 1
                    acted += 1
        if len(ids) < batch or not acted:
            return done


def reoffer_pool(settings: Settings, at: datetime, *, batch: int = 200) -> int:
    """Pool leads are offered again as soon as an installer becomes eligible; those an admin
    opened to the exchange, or whose claim lapsed, stay in the exchange for installers to
    claim."""
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(Lead.id)
                .where(
                    Lead.status == LeadStatus.POOL,
                    or_(Lead.exchange_reason.is_(None), Lead.exchange_reason == "rotation"),
                )
                .order_by(Lead.created_at)
                .limit(batch)
            )
        )
    offered = 0
    for lead_id in ids:
        with session_scope(settings) as session:
            if route_lead(session, lead_id, now=at, settings=settings):
                offered += 1
    return offered
