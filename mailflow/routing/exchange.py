"""The open lead exchange (Q CELLS "bourse aux leads", issue #17).

A lead nobody took within its rotation (the pool), or opened by an admin, is listed for every
eligible installer (active, not on vacation, address not bouncing, serving the lead's country
and postcode): an "Available leads" tab of the dashboard and a daily email show its area,
product and key figures, never who the customer is. The first installer to claim it gets it
as if they had accepted an offer (acceptance emails, contact details), reserved for two
business days of their calendar: without a status recorded by then, the ``claim_lapse`` timer
puts it back in the exchange. The state lives on the lead (``domain/lead.py``): a ``pool``
lead with ``exchange_since`` set.

One winner under races: the claim locks the lead (``FOR UPDATE`` on PostgreSQL; SQLite
transactions begin immediate, so writers queue) and checks that it is still in the exchange
before moving it.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.calendar import add_business_days
from mailflow.domain.effects import Outcome, QueueEmail, SetTimer, outcome
from mailflow.domain.events import LeadClaimed
from mailflow.domain.routing import Candidate, busy_reason, on_vacation, serving_prefix
from mailflow.models import (
    HELD_STATUSES,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
    Timer,
    TimerStatus,
)
from mailflow.routing.offers import lock_lead
from mailflow.routing.standing import installer_standing

log = logging.getLogger(__name__)

CLAIM_RESERVED_BUSINESS_DAYS = 2
DAILY_MAIL_LIMIT = 20
LIST_LIMIT = 200


class ClaimRefused(Exception):
    """``code``: ``taken`` (no longer in the exchange), ``not_eligible``, ``at_capacity`` or
    ``cap_reached``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _candidate(installer: Installer) -> Candidate:
    return Candidate(
        id=installer.id,
        email=installer.email,
        country=installer.country,
        postcodes=tuple(installer.postcode_prefixes),
        active=installer.active,
        vacation_from=installer.vacation_from,
        vacation_until=installer.vacation_until,
        bounced=installer.bounced_at is not None,
    )


def installer_can_take(installer: Installer, at: datetime) -> bool:
    candidate = _candidate(installer)
    return candidate.active and not candidate.bounced and not on_vacation(candidate, at)


def serves(installer: Installer, lead: Lead) -> bool:
    return serving_prefix(_candidate(installer), lead.postcode, lead.country) is not None


def may_claim(installer: Installer, lead: Lead) -> bool:
    """Serves the lead's area, and did not just let a claim of it lapse."""
    return serves(installer, lead) and lead.exchange_lapsed_installer_id != installer.id


def claim_limit(
    session: Session, installer: Installer, at: datetime, settings: Settings
) -> str | None:
    """Why the installer may not claim more leads now (``at capacity``, ``daily cap reached``,
    ``weekly cap reached``, ``monthly cap reached``), or None. Capacity and caps (with pacing)
    hold for claims as for offers; the open-offer limit does not, a claim being the installer's
    own choice rather than mail to answer."""
    standing = installer_standing(session, installer, at, settings)
    held = session.scalar(
        select(func.count()).where(
            Lead.assigned_installer_id == installer.id, Lead.status.in_(HELD_STATUSES)
        )
    )
    (day, cap_day), (week, cap_week), (month, cap_month) = standing.periods
    return busy_reason(
        Candidate(
            id=installer.id,
            email=installer.email,
            country=installer.country,
            postcodes=(),
            capacity=installer.capacity,
            open_leads=held or 0,
            pending_offers=standing.pending,
            offers_day=day,
            offers_week=week,
            offers_month=month,
            cap_day=cap_day,
            cap_week=cap_week,
            cap_month=cap_month,
        )
    )


def _exchange_query():
    return select(Lead).where(
        Lead.status == LeadStatus.POOL,
        Lead.exchange_since.is_not(None),
        Lead.archived_at.is_(None),
        Lead.erased_at.is_(None),
    )


def available_leads(
    session: Session, installer: Installer, at: datetime, *, limit: int = LIST_LIMIT
) -> list[Lead]:
    """The exchange's leads this installer may claim, longest listed first."""
    if not installer_can_take(installer, at):
        return []
    leads = session.scalars(
        _exchange_query()
        .where(Lead.country == installer.country)
        .order_by(Lead.exchange_since, Lead.id)
    )
    return [lead for lead in leads if may_claim(installer, lead)][:limit]


def claim(
    session: Session, lead_id: int, installer_id: int, *, now: datetime, settings: Settings
) -> Lead:
    """The installer claims the lead; raises :class:`ClaimRefused` for the loser of a race."""
    lead = lock_lead(session, lead_id)
    if lead is None:
        raise ClaimRefused("taken")
    session.refresh(lead)
    installer = session.get(Installer, installer_id)
    if not lead_rules.in_exchange(lead):
        raise ClaimRefused("taken")
    if not installer_can_take(installer, now) or not may_claim(installer, lead):
        raise ClaimRefused("not_eligible")
    limit = claim_limit(session, installer, now, settings)
    if limit is not None:
        raise ClaimRefused("at_capacity" if limit == "at capacity" else "cap_reached")
    UnitOfWork(session, settings, now).apply(lead_rules.claim(lead, installer, at=now))
    # The claim is on the installer's record of offers: caps and fairness count it.
    session.add(
        Offer(
            lead_id=lead.id,
            installer_id=installer.id,
            status=OfferStatus.CLAIMED,
            offered_at=now,
            answered_at=now,
            deadline=now,
            routing_reason="claimed from the open exchange",
        )
    )
    return lead


def start_claim_reservation(uow: UnitOfWork, event: LeadClaimed) -> Outcome:
    """Reaction: the claim is reserved for two business days of the installer's calendar."""
    installer = uow.session.get(Installer, event.installer_id)
    due = add_business_days(
        uow.now, CLAIM_RESERVED_BUSINESS_DAYS, installer.country, installer.timezone
    )
    return outcome(SetTimer("claim_lapse", due, lead_id=event.lead_id, installer_id=installer.id))


def claim_reserved_until(session: Session, lead_id: int, installer_id: int) -> datetime | None:
    """When the installer's claim of the lead lapses, while no status is recorded."""
    return session.scalar(
        select(Timer.due_at).where(
            Timer.lead_id == lead_id,
            Timer.installer_id == installer_id,
            Timer.kind == "claim_lapse",
            Timer.status == TimerStatus.PENDING,
        )
    )


def _claim_lapse(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    """Timer: a claimed lead without any status recorded goes back to the exchange."""
    lead = lock_lead(session, timer.lead_id)
    if (
        lead is None
        or lead.assigned_installer_id != timer.installer_id
        or lead.status != LeadStatus.ACCEPTED
    ):
        return  # worked on, given back or reassigned meanwhile
    installer = session.get(Installer, timer.installer_id)
    told = outcome(QueueEmail("exchange_claim_lapsed", lead_id=lead.id, installer_id=installer.id))
    UnitOfWork(session, settings, at).apply(
        told + lead_rules.claim_lapsed(lead, installer.email, at=at)
    )


def open_to_exchange(session: Session, lead: Lead, *, now: datetime, settings: Settings, by: str):
    """An admin opens a lead nobody holds to the exchange (the lead is locked by the caller):
    its open offer is withdrawn (the accept link then answers "taken")."""
    open_offers = list(
        session.scalars(
            select(Offer).where(Offer.lead_id == lead.id, Offer.status == OfferStatus.OFFERED)
        )
    )
    offer_rules.withdraw(open_offers, at=now)
    UnitOfWork(session, settings, now).apply(lead_rules.open_to_exchange(lead, at=now, by=by))


# ------------------------------------------------------------------ daily email ------------
def _local_day_start(at: datetime, timezone: str) -> datetime:
    tz = ZoneInfo(timezone)
    return datetime.combine(at.astimezone(tz).date(), time(0), tzinfo=tz)


def send_exchange_mail(settings: Settings, at: datetime) -> int:
    """Once a day (the installer's day), each eligible installer who has not opted out hears
    of the leads available in their area. The conditional update of ``last_exchange_mail_at``
    is the claim: under two schedulers exactly one sends it."""
    sent = 0
    with session_scope(settings) as session:
        # Installers due first (after the day's emails: none, and the exchange is not read).
        installers = list(
            session.scalars(
                select(Installer)
                .where(
                    Installer.active.is_(True),
                    Installer.exchange_mail_opt_out.is_(False),
                    or_(
                        Installer.last_exchange_mail_at.is_(None),
                        Installer.last_exchange_mail_at <= at - timedelta(hours=12),
                    ),
                )
                .order_by(Installer.id)
            )
        )
        if not installers:
            return 0
        countries = {installer.country for installer in installers}
        listed = list(
            session.scalars(
                _exchange_query()
                .where(Lead.country.in_(countries))
                .order_by(Lead.exchange_since, Lead.id)
            )
        )
        if not listed:
            return 0
        uow = UnitOfWork(session, settings, at)
        for installer in installers:
            if not installer_can_take(installer, at):
                continue
            leads = [lead for lead in listed if may_claim(installer, lead)]
            if leads and claim_limit(session, installer, at, settings) is not None:
                continue  # no invitation to claim what they may not take today
            if not leads:
                continue
            day_start = _local_day_start(at, installer.timezone)
            claimed = session.execute(
                update(Installer)
                .where(
                    Installer.id == installer.id,
                    or_(
                        Installer.last_exchange_mail_at.is_(None),
                        Installer.last_exchange_mail_at < day_start,
                    ),
                )
                .values(last_exchange_mail_at=at)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                continue  # sent today already, or another scheduler sends it
            uow.apply(
                outcome(
                    QueueEmail(
                        "exchange_daily",
                        installer_id=installer.id,
                        data={
                            "lead_ids": tuple(lead.id for lead in leads[:DAILY_MAIL_LIMIT]),
                            "total": len(leads),
                        },
                    )
                )
            )
            sent += 1
    return sent
