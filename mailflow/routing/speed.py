"""Speed to lead (#20): offer windows per tier and product in working time, leads held while
their installer is out of hours (released staggered by a durable timer), escalation of a lead
nobody answers to every remaining eligible installer at once.

With the default settings (24-hour windows, no escalation) none of this changes PRODUCT.md's
rotation: a lead is never held, never escalated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.db import is_postgres
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.calendar import (
    WorkingHours,
    is_working_time,
    next_working_start,
    parse_working_hours,
)
from mailflow.domain.deadlines import counts_working_time, offer_deadline
from mailflow.domain.effects import Enqueue, Outcome, Record, SetTimer, outcome
from mailflow.domain.routing import Candidate
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus, Timer, TimerStatus

RELEASE_TIMER = "offer_release"


def working_hours_of(installer: Installer, settings: Settings) -> WorkingHours:
    """The installer's own hours, else the setting's (a stored value that no longer parses
    falls back to the setting rather than stopping routing)."""
    try:
        return parse_working_hours(installer.working_hours or settings.working_hours)
    except ValueError:
        return parse_working_hours(settings.working_hours)


def window_of(installer: Installer, lead: Lead, settings: Settings) -> timedelta:
    return settings.offer_window_for(installer.tier, lead.product)


def deadline_for(installer: Installer, lead: Lead, now: datetime, settings: Settings) -> datetime:
    return offer_deadline(
        now,
        country=installer.country,
        timezone=installer.timezone,
        window=window_of(installer, lead, settings),
        hours=working_hours_of(installer, settings),
    )


def out_of_hours(installer: Installer, lead: Lead, now: datetime, settings: Settings) -> bool:
    """Whether an offer of this lead to this installer now would be held: their window is a
    short one (working time) and they are not working now."""
    if not counts_working_time(window_of(installer, lead, settings)):
        return False
    hours = working_hours_of(installer, settings)
    return not is_working_time(now, hours, installer.country, installer.timezone)


def release_time(session: Session, installer: Installer, now: datetime, settings: Settings):
    """When a lead held now for this installer is released: the start of their next working
    period, or one gap after the last lead already held for them then (no inbox gets ten at
    once)."""
    start = next_working_start(
        now, working_hours_of(installer, settings), installer.country, installer.timezone
    )
    latest = session.scalar(
        select(func.max(Timer.due_at)).where(
            Timer.kind == RELEASE_TIMER,
            Timer.installer_id == installer.id,
            Timer.status == TimerStatus.PENDING,
            Timer.due_at >= start,
        )
    )
    return start if latest is None else max(start, as_utc(latest) + settings.release_gap)


def hold(uow: UnitOfWork, lead: Lead, installer: Installer) -> Outcome:
    """The lead waits for the installer's working hours; a timer routes it then (again: if
    they can no longer take it, routing picks whoever can)."""
    if lead.held_until is not None:
        return Outcome()  # held already: its timer is pending
    release = release_time(uow.session, installer, uow.now, uow.settings)
    lead.held_until, lead.waiting_since, lead.updated_at = release, None, uow.now
    return outcome(
        SetTimer(RELEASE_TIMER, release, lead_id=lead.id, installer_id=installer.id),
        Record(
            lead.id,
            "held",
            data={"installer": installer.email, "until": release.isoformat()},
        ),
    )


def escalation(session: Session, lead: Lead, now: datetime, settings: Settings) -> str | None:
    """Why the lead goes to every remaining eligible installer at once, or None (the default:
    both settings are off)."""
    silent = settings.escalate_after_silent_offers
    if silent:
        expired = session.scalar(
            select(func.count()).where(
                Offer.lead_id == lead.id, Offer.status == OfferStatus.EXPIRED
            )
        )
        if expired >= silent:
            return (
                f"{offer_rules.ESCALATED} after {expired} silent offer{'s' if expired != 1 else ''}"
            )
    wait = settings.escalation_wait
    if wait is not None and now - as_utc(lead.created_at) >= wait:
        return f"{offer_rules.ESCALATED} after waiting {_hours(now - as_utc(lead.created_at))}"
    return None


def _hours(span: timedelta) -> str:
    minutes = int(span / timedelta(minutes=1))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def others_open(session: Session, offer: Offer) -> bool:
    """Whether the lead has open offers besides this one (an escalated lead)."""
    params = {"lead_id": offer.lead_id, "offer_id": offer.id}
    return session.scalar(_OTHER_OPEN, params) is not None


_OTHER_OPEN = (  # built once (#21)
    select(Offer.id)
    .where(
        Offer.lead_id == bindparam("lead_id"),
        Offer.status == OfferStatus.OFFERED,
        Offer.id != bindparam("offer_id"),
    )
    .limit(1)
)


def open_offers_besides(session: Session, offer: Offer) -> list[Offer]:
    return list(
        session.scalars(
            select(Offer).where(
                Offer.lead_id == offer.lead_id,
                Offer.status == OfferStatus.OFFERED,
                Offer.id != offer.id,
            )
        )
    )


def taken_by(lead: Lead, others: list[Offer], winner: Installer, *, at: datetime) -> Outcome:
    """The other open offers of an escalated lead one installer accepted are withdrawn."""
    if not others:
        return Outcome()
    ids = offer_rules.withdraw(others, at=at)
    return outcome(
        Record(
            lead.id,
            "offers_withdrawn",
            data={"installer": winner.email, "offer_ids": ids, "reason": "taken"},
        )
    )


def make_offer(
    uow: UnitOfWork, lead: Lead, installer: Installer, reason: str
) -> tuple[Outcome, Offer]:
    session, now = uow.session, uow.now
    lead.waiting_since = lead.held_until = None
    offer = Offer(
        lead_id=lead.id,
        installer_id=installer.id,
        status=OfferStatus.OFFERED,
        offered_at=now,
        deadline=deadline_for(installer, lead, now, uow.settings),
        routing_reason=reason,
    )
    offer_rules.offering(lead, at=now)  # before the flush: the lead's row written once
    session.add(offer)
    session.flush()
    return offer_rules.offered(lead, offer, installer.email, at=now), offer


def offer_to_all(
    uow: UnitOfWork,
    lead: Lead,
    everyone: list[Candidate],
    why: str,
    *,
    claim: Callable[[Session, Candidate, Settings, datetime], bool],
) -> tuple[Outcome, Offer | None]:
    """Escalation: the lead is offered at once to every remaining eligible installer (their
    caps, capacity and open-offer limits hold: ``everyone`` is eligible, and on PostgreSQL
    each slot is ``claim``ed as for one offer); the first to accept wins, the others' offers are
    withdrawn (``accept``)."""
    result, first = Outcome(), None
    reason = f"{why}: offered to {len(everyone)} installers at once"
    for candidate in everyone:
        if is_postgres(uow.session) and not claim(uow.session, candidate, uow.settings, uow.now):
            continue
        installer = uow.session.get(Installer, candidate.id)
        made, offer = make_offer(uow, lead, installer, reason)
        result += made
        first = first or offer
    if first is None and lead.status == LeadStatus.NEW:
        return lead_rules.wait(lead, at=uow.now) + outcome(Enqueue("offer_waiting_job")), None
    return result, first
