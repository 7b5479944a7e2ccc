"""Service-level lists: offers about to time out, reservations about to lapse, installers whose
mail bounces, and the leads that waited longest for an installer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.app.reports.common import (
    NOT_RECEIVED,
    ReportFilters,
    installer_conditions,
    lead_conditions,
    leads_in_range,
    minutes,
)
from mailflow.domain.statuses import LeadStatus, OfferStatus
from mailflow.models import BounceEvent, Installer, Lead, Offer, Timer, TimerStatus

LIMIT = 50
# Timers that end an installer's hold on a lead unless they record a step: a claim from the
# exchange (``claim_lapse``) and an accepted lead without news (``reservation_lapse``).
RESERVATION_TIMERS = ("claim_lapse", "reservation_lapse")
STILL_WAITING = (LeadStatus.NEW, LeadStatus.OFFERED, LeadStatus.POOL)


@dataclass(frozen=True)
class DueItem:
    """An open offer or a reservation: whose, which lead, due when."""

    kind: str  # "offer", "claim_lapse", "reservation_lapse"
    lead_id: int
    postcode: str
    product: str | None
    installer_id: int
    installer_name: str
    due_at: datetime
    minutes_left: float


@dataclass(frozen=True)
class BouncingInstaller:
    installer_id: int
    name: str
    email: str
    flagged_at: datetime | None  # the address is disabled (no offers) since
    bounces: int  # bounces recorded in the range
    last_bounce_at: datetime | None


@dataclass(frozen=True)
class Wait:
    lead_id: int
    source: str
    status: LeadStatus
    created_at: datetime
    minutes: float
    still_waiting: bool  # not taken yet: counted up to now


@dataclass
class ServiceLists:
    offers_due: list[DueItem]
    reservations_due: list[DueItem]
    bouncing: list[BouncingInstaller]
    longest_waits: list[Wait]


def offers_due(session: Session, f: ReportFilters, at: datetime) -> list[DueItem]:
    query = (
        select(Offer, Lead.postcode, Lead.product, Installer.name)
        .join(Lead, Lead.id == Offer.lead_id)
        .join(Installer, Installer.id == Offer.installer_id)
        .where(
            Offer.status == OfferStatus.OFFERED,
            *lead_conditions(f),
            *installer_conditions(f),
        )
        .order_by(Offer.deadline, Offer.id)
        .limit(LIMIT)
    )
    return [
        DueItem(
            "offer",
            o.lead_id,
            pc,
            product,
            o.installer_id,
            name,
            o.deadline,
            minutes(o.deadline - at),
        )
        for o, pc, product, name in session.execute(query)
    ]


def reservations_due(session: Session, f: ReportFilters, at: datetime) -> list[DueItem]:
    query = (
        select(Timer, Lead.postcode, Lead.product, Installer.name)
        .join(Lead, Lead.id == Timer.lead_id)
        .join(Installer, Installer.id == Timer.installer_id)
        .where(
            Timer.kind.in_(RESERVATION_TIMERS),
            Timer.status == TimerStatus.PENDING,
            *lead_conditions(f),
            *installer_conditions(f),
        )
        .order_by(Timer.due_at, Timer.id)
        .limit(LIMIT)
    )
    return [
        DueItem(
            t.kind, t.lead_id, pc, product, t.installer_id, name, t.due_at, minutes(t.due_at - at)
        )
        for t, pc, product, name in session.execute(query)
    ]


def bouncing(session: Session, f: ReportFilters) -> list[BouncingInstaller]:
    in_range = (
        select(
            BounceEvent.installer_id,
            func.count().label("n"),
            func.max(BounceEvent.at).label("last"),
        )
        .where(BounceEvent.at >= f.start_at, BounceEvent.at < f.end_at)
        .group_by(BounceEvent.installer_id)
        .subquery()
    )
    query = (
        select(Installer, in_range.c.n, in_range.c.last)
        .outerjoin(in_range, in_range.c.installer_id == Installer.id)
        .where(
            or_(Installer.bounced_at.is_not(None), in_range.c.n > 0),
            *installer_conditions(f),
        )
    )
    rows = [
        BouncingInstaller(i.id, i.name, i.email, i.bounced_at, n or 0, last)
        for i, n, last in session.execute(query)
    ]
    rows.sort(key=lambda r: (r.flagged_at is None, -r.bounces, r.installer_id))
    return rows


def longest_waits(session: Session, f: ReportFilters, at: datetime) -> list[Wait]:
    """Leads of the range by the time from their arrival to an installer taking them (or to
    now, for those still new, offered or in the pool). Leads that never reached installers
    (duplicates, quarantined, held) and closed ones nobody took are left out."""
    waits = []
    for lead in leads_in_range(session, f):
        if lead.status in NOT_RECEIVED:
            continue
        if lead.accepted_at is not None:
            end, still = lead.accepted_at, False
        elif lead.status in STILL_WAITING:
            end, still = at, True
        else:
            continue
        waits.append(
            Wait(
                lead.id,
                lead.source,
                lead.status,
                lead.created_at,
                minutes(end - lead.created_at),
                still,
            )
        )
    waits.sort(key=lambda w: (-w.minutes, w.lead_id))
    return waits[:LIMIT]


def service_lists(session: Session, f: ReportFilters, at: datetime) -> ServiceLists:
    return ServiceLists(
        offers_due=offers_due(session, f, at),
        reservations_due=reservations_due(session, f, at),
        bouncing=bouncing(session, f),
        longest_waits=longest_waits(session, f, at),
    )
