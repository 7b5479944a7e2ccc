"""The offer lifecycle: route a lead to the next installer, accept, decline, expire, pool.

Every function runs inside the caller's transaction with the lead locked, writes the state
change, its timeline events and its emails (outbox) together, and returns what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import is_postgres
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.deadlines import offer_deadline
from mailflow.domain.routing import Candidate, available_days, choose, serving_prefix
from mailflow.leads.service import add_event
from mailflow.links import tokens
from mailflow.models import (
    HELD_STATUSES,
    Actor,
    AdminUser,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.outbound import emails
from mailflow.outbound.outbox import queue_email

log = logging.getLogger(__name__)

ROUTABLE = frozenset({LeadStatus.NEW, LeadStatus.POOL})
DECLINE_REASONS = ("no_capacity", "out_of_area", "not_interested", "spam", "other")


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
            last_offer_at=_aware(last.get(i.id)),
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


def _aware(value):
    from mailflow.clock import as_utc

    return as_utc(value) if value is not None else None


def offer_next(session: Session, lead: Lead, *, now: datetime, settings: Settings) -> Offer | None:
    """Offer the (locked) lead to the best eligible installer, or put it in the pool."""
    offered = set(session.scalars(select(Offer.installer_id).where(Offer.lead_id == lead.id)))
    choice = choose(
        load_candidates(session, lead, now),
        postcode=lead.postcode,
        country=lead.country,
        offered=offered,
        now=now,
        shares=settings.share_weights,
    )
    if choice is None:
        was_pool = lead.status == LeadStatus.POOL
        lead_rules.move(lead, LeadStatus.POOL, by=Actor.SYSTEM)
        lead.updated_at = now
        if not was_pool:
            add_event(
                session,
                lead,
                "pool",
                at=now,
                reason="no eligible installer left" if offered else "no eligible installer",
            )
            notify_admins(session, lead, now=now, settings=settings)
        return None
    installer = session.get(Installer, choice.installer.id)
    deadline = offer_deadline(now, country=installer.country, timezone=installer.timezone)
    offer = Offer(
        lead_id=lead.id,
        installer_id=installer.id,
        status=OfferStatus.OFFERED,
        offered_at=now,
        deadline=deadline,
        routing_reason=choice.reason,
    )
    session.add(offer)
    session.flush()
    lead_rules.move(lead, LeadStatus.OFFERED, by=Actor.SYSTEM)
    lead.updated_at = now
    add_event(
        session,
        lead,
        "offered",
        at=now,
        installer=installer.email,
        offer_id=offer.id,
        deadline=deadline.isoformat(),
        reason=choice.reason,
    )

    def link(purpose: str) -> str:
        token = tokens.issue(
            session,
            settings,
            purpose,
            now=now,
            subject_id=offer.id,
            installer_id=installer.id,
            lead_id=lead.id,
        )
        return tokens.url(settings, purpose, token)

    from mailflow.lifecycle.service import vacation_url

    spec = emails.offer_email(
        lead,
        installer,
        deadline=deadline,
        accept_url=link("accept"),
        decline_url=link("decline"),
        vacation_url=vacation_url(session, installer, now=now, settings=settings),
    )
    spec.headers["Reply-To"] = reply_address(session, settings, offer, now=now)
    queue_email(session, spec, now=now, settings=settings)
    return offer


def reply_address(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> str:
    """``reply+<token>@domain``: answering the offer email by "accept"/"decline" works too.
    The token is the credential of such a reply, so it lives as long as the offer: it expires
    at the offer's deadline (and ``replies.handle_reply`` refuses it once the offer is
    answered)."""
    token = tokens.issue(
        session,
        settings,
        "reply",
        now=now,
        subject_id=offer.id,
        installer_id=offer.installer_id,
        lead_id=offer.lead_id,
        lifetime=max(offer.deadline - now, timedelta(0)),
    )
    domain = settings.intake_address.rpartition("@")[2]
    return f"reply+{token}@{domain}"


def notify_admins(session: Session, lead: Lead, *, now: datetime, settings: Settings) -> None:
    recipients = list(
        session.scalars(
            select(AdminUser.email).where(AdminUser.active.is_(True), AdminUser.role == "admin")
        )
    )
    if settings.admin_email and settings.admin_email not in recipients:
        recipients.append(settings.admin_email)
    for to in recipients:
        spec = emails.admin_alert_email(
            to,
            title=f"Lead #{lead.id} is in the pool",
            message=(
                f"No installer can take lead #{lead.id} ({lead.product or 'unknown product'},"
                f" {lead.postcode} {lead.city or ''}, {lead.country}) right now. It will be "
                "offered again as soon as one becomes eligible, or assign it by hand."
            ),
            url=f"{settings.base_url.rstrip('/')}/admin/leads/{lead.id}",
            lead_id=lead.id,
        )
        queue_email(session, spec, now=now, settings=settings)


def route_lead(
    session: Session, lead_id: int, *, now: datetime, settings: Settings
) -> Offer | None:
    """Start (or restart from the pool) the rotation of a lead. Idempotent."""
    lead = lock_lead(session, lead_id)
    if lead is None or lead.status not in ROUTABLE:
        return None
    return offer_next(session, lead, now=now, settings=settings)


# ------------------------------------------------------------------------- answers ---------
class OfferClosed(Exception):
    """The offer cannot be answered any more; ``code`` says why (for the page to show)."""

    def __init__(self, code: str, offer: Offer | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.offer = offer


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
    if offer.status == OfferStatus.ACCEPTED:
        raise OfferClosed("already_accepted", offer)
    if offer.status == OfferStatus.DECLINED:
        raise OfferClosed("already_declined", offer)
    if offer.status == OfferStatus.EXPIRED:
        raise OfferClosed("expired", offer)
    if offer.status != OfferStatus.OFFERED or lead.status != LeadStatus.OFFERED:
        raise OfferClosed("taken", offer)
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
    offer_rules.move(offer, OfferStatus.ACCEPTED)
    offer.answered_at = now
    lead_rules.move(lead, LeadStatus.ACCEPTED, by=Actor.SYSTEM)
    lead.assigned_installer_id, lead.updated_at = installer.id, now
    installer.last_action_at = now
    add_event(
        session,
        lead,
        "accepted",
        at=now,
        actor=actor,
        installer=installer.email,
        offer_id=offer.id,
        via=channel,
    )
    send_acceptance_emails(session, lead, installer, now=now, settings=settings)
    return AcceptResult(offer, lead)


def send_acceptance_emails(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> None:
    """What a lead's new holder gets, whether they accepted an offer or an admin assigned the
    lead: the acceptance email (status links, dashboard, vacation) and the contact-details email
    (a reveal link); then the lifecycle's timers start (``hooks.accepted``)."""
    from mailflow.lifecycle.service import vacation_url
    from mailflow.routing import hooks

    reveal = tokens.url(
        settings,
        "reveal",
        tokens.issue(
            session,
            settings,
            "reveal",
            now=now,
            subject_id=lead.id,
            installer_id=installer.id,
            lead_id=lead.id,
        ),
    )
    status_links = hooks.status_links(session, lead, installer, now=now, settings=settings)
    away = vacation_url(session, installer, now=now, settings=settings)
    dashboard = f"{settings.base_url.rstrip('/')}/dashboard/"
    queue_email(
        session,
        emails.offer_accepted_email(
            lead, installer, status_links=status_links, dashboard_url=dashboard, vacation_url=away
        ),
        now=now,
        settings=settings,
    )
    queue_email(
        session,
        emails.contact_details_email(lead, installer, reveal_url=reveal, vacation_url=away),
        now=now,
        settings=settings,
    )
    hooks.accepted(session, lead, installer, now=now, settings=settings)


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
    if reason not in DECLINE_REASONS:
        reason = "other"
    installer = session.get(Installer, offer.installer_id)
    offer_rules.move(offer, OfferStatus.DECLINED)
    offer.answered_at = now
    offer.decline_reason, offer.decline_note = reason, (note or None)
    installer.last_action_at = now
    add_event(
        session,
        lead,
        "declined",
        at=now,
        actor=Actor.INSTALLER,
        installer=installer.email,
        offer_id=offer.id,
        reason=reason,
        note=note or None,
        via=channel,
    )
    lead_rules.move(lead, LeadStatus.NEW, by=Actor.SYSTEM)  # back to rotation
    offer_next(session, lead, now=now, settings=settings)
    return offer


def expire_offer(
    session: Session, offer: Offer, lead: Lead, *, now: datetime, settings: Settings
) -> None:
    """Deadline passed: the offer expires and the lead moves on (both locked by the caller)."""
    if offer.status != OfferStatus.OFFERED:
        return
    offer_rules.move(offer, OfferStatus.EXPIRED)
    offer.answered_at = None
    installer = session.get(Installer, offer.installer_id)
    add_event(
        session,
        lead,
        "offer_expired",
        at=now,
        installer=installer.email,
        offer_id=offer.id,
        deadline=offer.deadline.isoformat(),
    )
    if lead.status == LeadStatus.OFFERED:
        lead_rules.move(lead, LeadStatus.NEW, by=Actor.SYSTEM)
        offer_next(session, lead, now=now, settings=settings)


def release_to_rotation(
    session: Session,
    lead: Lead,
    *,
    now: datetime,
    settings: Settings,
    reason: str,
    actor: Actor = Actor.SYSTEM,
) -> Offer | None:
    """A held lead goes back (released by the installer, lapsed reservation, admin)."""
    previous = lead.assigned_installer_id
    lead.assigned_installer_id = None
    lead_rules.move(lead, LeadStatus.NEW, by=Actor.ADMIN if actor == Actor.ADMIN else Actor.SYSTEM)
    add_event(session, lead, "released", at=now, actor=actor, reason=reason, installer_id=previous)
    return offer_next(session, lead, now=now, settings=settings)


# ------------------------------------------------------------------------- sweeps ----------
def expire_due_offers(settings: Settings, at: datetime, *, batch: int = 200) -> int:
    """Every offer whose deadline has passed expires once, and its lead rotates. Each expiry
    is its own short transaction (SQLite has one writer: nobody waits long), and claims its
    offer with FOR UPDATE SKIP LOCKED on PostgreSQL so two schedulers never act twice."""
    from mailflow.db import session_scope

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
    """Pool leads are offered again as soon as an installer becomes eligible."""
    from mailflow.db import session_scope

    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(Lead.id)
                .where(Lead.status == LeadStatus.POOL)
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
