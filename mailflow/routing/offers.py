"""The offer lifecycle: route a lead to the next installer, accept, decline, expire, pool.

Every function runs inside the caller's transaction with the lead locked, writes the state
change, its timeline events and its emails (outbox) together, and returns what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import is_postgres
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.effects import NOTHING, AlertAdmins, Enqueue, Outcome, QueueEmail, outcome
from mailflow.domain.events import LeadAccepted, LeadAssigned, LeadNeedsInstaller, LeadPooled
from mailflow.domain.offer import OfferClosed
from mailflow.domain.routing import (
    Candidate,
    Choice,
    choice_of,
    choose,
    prefix_for,
    rank,
    serving_prefix,
    waits,
)
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.routing import decisions, speed
from mailflow.routing.candidates import InstallerRow, figures_of, installer_rows
from mailflow.routing.standing import period_counts

log = logging.getLogger(__name__)

ROUTABLE = frozenset({LeadStatus.NEW, LeadStatus.POOL})


def lock_lead(session: Session, lead_id: int, *, skip_locked: bool = False) -> Lead | None:
    """The lead, its row locked (PostgreSQL). ``skip_locked``: ``None`` at once when another
    transaction holds it, instead of waiting for it."""
    if not is_postgres(session):
        return session.scalar(_LEAD, {"id": lead_id})
    return session.scalar(_LEAD_SKIP_LOCKED if skip_locked else _LEAD_LOCKED, {"id": lead_id})


def lock_offer(session: Session, offer_id: int) -> Offer | None:
    statement = _OFFER_LOCKED if is_postgres(session) else _OFFER
    return session.scalar(statement, {"id": offer_id})


# Built once (#21).
_LEAD = select(Lead).where(Lead.id == bindparam("id"))
_LEAD_LOCKED = _LEAD.with_for_update()
_LEAD_SKIP_LOCKED = _LEAD.with_for_update(skip_locked=True)
_OFFER = select(Offer).where(Offer.id == bindparam("id"))
_OFFER_LOCKED = _OFFER.with_for_update()


def serving_installers(session: Session, lead: Lead) -> tuple[list[InstallerRow], int]:
    """The installers of the lead's country who serve its postcode (plain rows), and how many
    do not."""
    in_country = installer_rows(session, lead.country)
    serving = [
        i
        for i in in_country
        if prefix_for(tuple(i.postcodes.split()), i.country, lead.postcode, lead.country)
        is not None
    ]
    return serving, len(in_country) - len(serving)


def load_candidates(
    session: Session, lead: Lead, now: datetime, settings: Settings | None = None
) -> list[Candidate]:
    """Installers of the lead's country with the figures the rules need."""
    return area_candidates(session, lead, now, settings)[0]


def area_candidates(
    session: Session, lead: Lead, now: datetime, settings: Settings | None = None
) -> tuple[list[Candidate], int]:
    """Installers of the lead's country serving its postcode, with the figures the rules need,
    and how many others the country has (out of the area whatever their figures)."""
    # Only those serving the postcode need figures: the rest are ineligible anyway.
    serving, outside = serving_installers(session, lead)
    return candidates_of(session, serving, now, settings), outside


def candidates_of(
    session: Session, installers: list, now: datetime, settings: Settings | None = None
) -> list[Candidate]:
    """These installers (plain rows or ``Installer``) with the figures the rules need (a few
    grouped statements for all of them)."""
    return figures_of(session, installers, now, settings)


def _bare(installer: Installer | InstallerRow) -> Candidate:
    return Candidate(
        id=installer.id,
        email=installer.email,
        country=installer.country,
        postcodes=tuple(installer.postcodes.split()),
    )


def _uow(session: Session, settings: Settings, now: datetime) -> UnitOfWork:
    return UnitOfWork(session, settings, now)


def offer_next(session: Session, lead: Lead, *, now: datetime, settings: Settings) -> Offer | None:
    """Offer the (locked) lead to the best eligible installer, or put it in the pool."""
    uow = _uow(session, settings, now)
    outcome, offer = next_offer(uow, lead)
    uow.apply(outcome)
    return offer


# PostgreSQL: the best installers of the line looked at in one statement when the first ones
# are being offered another lead at that very moment by other workers, and the statements
# tried when a locked installer's slot is gone once counted again, before the lead waits.
CLAIM_SCAN = 16
CLAIM_TRIES = 3


_HISTORY = (
    select(Offer.installer_id, Offer.requeued_at, Offer.status)
    .where(Offer.lead_id == bindparam("lead_id"))
    .order_by(Offer.id)
)


def next_offer(
    uow: UnitOfWork, lead: Lead, *, in_order: bool = False, new: bool = False
) -> tuple[Outcome, Offer | None]:
    """The next offer of the (locked) lead: stored, with what it causes (or the pool).
    ``in_order``: the caller goes through the waiting leads oldest first (the drain), so no
    older waiting lead needs looking for. ``new``: the lead was created in this transaction,
    so it has no offers to read."""
    session, now = uow.session, uow.now
    history = [] if new else session.execute(_HISTORY, {"lead_id": lead.id}).all()
    offered = {installer_id for installer_id, _, _ in history}
    candidates, outside = area_candidates(session, lead, now, uow.settings)
    # What the routing decision records: each installer's last offer of the lead, and how many
    # of the country's installers do not serve its postcode.
    seen = decisions.Seen({i: getattr(st, "value", st) for i, _, st in history}, outside)
    where = {"postcode": lead.postcode, "country": lead.country, "offered": offered, "now": now}
    escalated = speed.escalation(session, lead, now, uow.settings)
    if escalated is not None:
        everyone = rank(candidates, **where, shares=uow.settings.share_weights)
        if everyone:
            made, first = speed.offer_to_all(uow, lead, everyone, escalated, claim=_claim_slot)
            offers = decisions.offers_made_since(session, lead, first)
            why = decisions.decided(
                uow,
                lead,
                candidates,
                where,
                offers,
                seen,
                kind=decisions.ESCALATED,
                ranked=everyone,
            )
            return why + made, first
    # The ranking under ``where``, reused by the decision's explanation while ``where`` holds.
    ranked = rank(candidates, **where, shares=uow.settings.share_weights)
    choice, kind = choice_of(ranked, postcode=lead.postcode, country=lead.country), "offered"
    if choice is None and lead.status == LeadStatus.NEW and waits(candidates, **where):
        # installers who could take it are busy: the current cycle is not over, it waits
        return lead_rules.wait(lead, at=now), None
    if choice is None:
        # Second chance: once the current cycle is over, those whose last offer of this lead
        # expired and who asked to be put back in line (mailflow.routing.second_chance).
        latest = {installer_id: requeued for installer_id, requeued, _ in history}
        again = {i for i, requeued in latest.items() if requeued is not None}
        if again:
            choice = choose(
                candidates,
                **{**where, "offered": offered - again},
                shares=uow.settings.share_weights,
            )
            if choice is not None:
                choice = Choice(choice.installer, f"second chance; {choice.reason}")
                where, kind = {**where, "offered": offered - again}, decisions.SECOND_CHANCE
                ranked = None
    if choice is None:
        was_pool = lead.status == LeadStatus.POOL
        pooled = lead_rules.pool(lead, at=now, offered_before=bool(offered))
        if was_pool:
            return pooled, None  # explained when it entered the pool
        why = decisions.decided(
            uow, lead, candidates, where, [], seen, kind=decisions.POOLED, ranked=ranked
        )
        return why + pooled, None
    busy: set[int] = set()
    line = (
        ranked
        if ranked is not None
        else rank(candidates, **where, shares=uow.settings.share_weights)
    )
    installer = None
    for _ in range(CLAIM_TRIES):
        # The best of the line whose row no other transaction holds, locked in one statement:
        # those held (being offered another lead at this very moment) are passed over.
        asked = [c.id for c in line[:CLAIM_SCAN]]
        installer = _first_free(session, asked)
        busy.update(asked if installer is None else asked[: asked.index(installer.id)])
        line = [c for c in line if c.id not in busy]
        if installer is None:
            break
        choice = choice_of(line, postcode=lead.postcode, country=lead.country)
        if kind == decisions.SECOND_CHANCE:
            choice = Choice(choice.installer, f"second chance; {choice.reason}")
        if (
            not in_order
            and lead.status == LeadStatus.NEW
            and _older_lead_waits_for(session, lead, choice.installer)
        ):
            # First come, first served: the older lead gets this installer's free slot (the
            # drain offers it), this one waits its turn.
            return lead_rules.wait(lead, at=now) + outcome(Enqueue("offer_waiting_job")), None
        if speed.out_of_hours(installer, lead, now, uow.settings):
            # A short window would run out in the night: the lead waits for their morning.
            return speed.hold(uow, lead, installer), None
        if not is_postgres(session) or _slot_free(
            session, choice.installer, installer, uow.settings, now
        ):
            break
        # Their slot went since the figures were loaded (another transaction offered them a
        # lead and committed): the pending limit and the caps hold across workers.
        busy.add(installer.id)
        line = [c for c in line if c.id != installer.id]
        installer = None
    if installer is None:
        # Everyone asked is busy: the lead waits for the drain.
        if lead.status != LeadStatus.NEW:
            return NOTHING, None
        return lead_rules.wait(lead, at=now) + outcome(Enqueue("offer_waiting_job")), None
    # Held for the offer email, which reads the installer by id (the session holds clean
    # objects weakly and would read a dropped one again).
    uow.kept.append(installer)
    made, offer = speed.make_offer(uow, lead, installer, choice.reason)
    uow.kept.append(offer)  # the same for the offer, which its email reads by id
    seen = seen._replace(busy=frozenset(busy))
    why = decisions.decided(uow, lead, candidates, where, [offer], seen, kind=kind, ranked=ranked)
    return why + made, offer


def _first_free(session: Session, installer_ids: list[int]) -> Installer | None:
    """The first of these installers (in this order) whose row no other transaction holds.
    PostgreSQL: read with their row locked, never waiting for it (so no lock-order deadlock
    with the lead's): the lock holds their pending limit and caps until this transaction
    commits. SQLite has one writer: the first one."""
    if not installer_ids:
        return None
    if not is_postgres(session):
        return session.get(Installer, installer_ids[0])
    if len(installer_ids) == 1:
        return session.scalars(_FIRST_FREE_OF_ONE, {"id": installer_ids[0]}).first()
    return session.scalars(_FIRST_FREE, {"ids": installer_ids}).first()


# Built once (#21). The line's order is the array's: array_position, one statement whatever
# the line's length.
_FIRST_FREE_OF_ONE = (
    select(Installer).where(Installer.id == bindparam("id")).with_for_update(skip_locked=True)
)
_LINE = bindparam("ids", type_=postgresql.ARRAY(Integer))
_FIRST_FREE = (
    select(Installer)
    .where(Installer.id == any_(_LINE))
    .order_by(func.array_position(_LINE, Installer.id))
    .limit(1)
    .with_for_update(skip_locked=True)
)


def _claim_slot(session: Session, candidate: Candidate, settings: Settings, now: datetime) -> bool:
    """PostgreSQL: lock the installer's row (never waiting for it) and count their open offers,
    and the period's offers against the caps in force, again, as committed now."""
    installer = _first_free(session, [candidate.id])
    return installer is not None and _slot_free(session, candidate, installer, settings, now)


_OPEN_OFFERS = select(func.count()).where(
    Offer.installer_id == bindparam("installer_id"), Offer.status == OfferStatus.OFFERED
)


def _slot_free(
    session: Session, candidate: Candidate, installer: Installer, settings: Settings, now: datetime
) -> bool:
    """PostgreSQL, the installer's row locked: their open offers, and the period's offers
    against the caps in force, counted again as committed now."""
    pending = session.scalar(_OPEN_OFFERS, {"installer_id": candidate.id})
    if (
        pending >= settings.max_pending_offers
        or candidate.open_leads + pending >= candidate.capacity
    ):
        return False
    caps = (candidate.cap_day, candidate.cap_week, candidate.cap_month)
    if not any(cap is not None for cap in caps):
        return True
    used = period_counts(session, installer, now)
    return all(cap is None or n < cap for n, cap in zip(used, caps, strict=True))


OLDER_SCAN = 500  # older waiting leads looked at before an offer (the queue's head)


_OLDER_WAITING = (
    select(Lead.id, Lead.postcode, Lead.country)
    .where(
        Lead.status == LeadStatus.NEW,
        Lead.waiting_since.is_not(None),
        Lead.country == bindparam("country"),
        Lead.id != bindparam("lead_id"),
        (Lead.created_at < bindparam("created_at"))
        | ((Lead.created_at == bindparam("created_at")) & (Lead.id < bindparam("lead_id"))),
    )
    .order_by(Lead.created_at, Lead.id)
    .limit(OLDER_SCAN)
)
_OFFERED_BEFORE = select(Offer.lead_id).where(
    Offer.lead_id.in_(bindparam("lead_ids", expanding=True)),
    Offer.installer_id == bindparam("installer_id"),
)


def _older_lead_waits_for(session: Session, lead: Lead, installer: Candidate) -> bool:
    """Whether a lead that arrived earlier waits for a slot this installer could give it (they
    serve it and were not offered it before): then it goes first."""
    params = {"country": lead.country, "lead_id": lead.id, "created_at": lead.created_at}
    older = session.execute(_OLDER_WAITING, params).all()
    served = [r.id for r in older if serving_prefix(installer, r.postcode, r.country) is not None]
    if not served:
        return False
    declined = set(
        session.scalars(_OFFERED_BEFORE, {"lead_ids": served, "installer_id": installer.id})
    )
    return any(lead_id not in declined for lead_id in served)


def on_lead_needs_installer(uow: UnitOfWork, event: LeadNeedsInstaller) -> Outcome:
    """Reaction: a lead back in rotation is offered to the next installer (or pooled)."""
    lead = uow.session.get(Lead, event.lead_id)
    if lead is None or lead.status not in ROUTABLE:
        return NOTHING
    return next_offer(uow, lead)[0]


# Causes of a lead's return to rotation that free a slot of an installer who can still take
# leads. An expiry is acted on by the sweep, whose routing step drains right after; a
# withdrawal frees the slot of an installer who is away.
FREES_A_SLOT = frozenset({"declined", "released", "back_to_rotation"})


def offer_waiting(uow: UnitOfWork, event: object) -> Outcome:
    """Reaction: an answer (accept, decline) or a release frees an installer's slot: if leads
    wait, they are offered, oldest first, once this is committed (the job)."""
    if isinstance(event, LeadNeedsInstaller) and event.cause not in FREES_A_SLOT:
        return NOTHING
    someone_waits = uow.session.scalar(
        select(Lead.id)
        .where(Lead.status == LeadStatus.NEW, Lead.waiting_since.is_not(None))
        .limit(1)
    )
    return outcome(Enqueue("offer_waiting_job")) if someone_waits else NOTHING


def alert_admins(uow: UnitOfWork, event: LeadPooled) -> Outcome:
    """Reaction: the admins hear of a lead nobody can take, in their next digest."""
    lead = uow.session.get(Lead, event.lead_id)
    return outcome(
        AlertAdmins(
            "pool",
            title=f"Lead #{lead.id} is in the pool",
            message=(
                f"{lead.product or 'unknown product'}, {lead.postcode} {lead.city or ''}, "
                f"{lead.country}: no installer serves it or can take it"
            ),
            lead_id=lead.id,
        )
    )


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
    code = offer_rules.closed_code(
        offer.status,
        lead.status,
        taken_by_other=offer_rules.lost_race(offer, lead),
    )
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
    # An escalated lead: the others' open offers are withdrawn (their links say "taken by
    # another installer"); the lead is locked, so of two accepts one wins.
    others = speed.open_offers_besides(session, offer)
    _uow(session, settings, now).apply(
        offer_rules.accept(offer, lead, installer, at=now, actor=actor, via=channel)
        + speed.taken_by(lead, others, installer, at=now)
    )
    return AcceptResult(offer, lead)


def decline(
    session: Session,
    offer_id: int,
    installer_id: int | None,
    *,
    reason: str | None,
    note: str | None,
    now: datetime,
    settings: Settings,
    channel: str = "link",
) -> Offer:
    offer, lead = _open_offer(session, offer_id, installer_id, now=now, settings=settings)
    installer = session.get(Installer, offer.installer_id)
    _uow(session, settings, now).apply(
        offer_rules.decline(
            offer,
            lead,
            installer,
            reason=reason,
            note=note,
            at=now,
            via=channel,
            others_open=speed.others_open(session, offer),
        )
    )
    return offer


def expire_offer(
    session: Session,
    offer: Offer,
    lead: Lead,
    *,
    now: datetime,
    settings: Settings,
    installer_email: str | None = None,
) -> None:
    """Deadline passed: the offer expires and the lead moves on (both locked by the caller;
    ``installer_email``: the offer's installer's, when the caller read it with the offer)."""
    if installer_email is None:
        installer_email = session.get(Installer, offer.installer_id).email
    _uow(session, settings, now).apply(
        offer_rules.expire(
            offer, lead, installer_email, at=now, others_open=speed.others_open(session, offer)
        )
    )


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
