"""The line of waiting leads: leads whose possible installers are all busy (capacity, open
offers, caps) are offered oldest first as answers free slots, by the drain job and every sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.routing import BUSY, Candidate, ineligibility, serving_prefix
from mailflow.models import Lead, LeadStatus, Offer, Timer
from mailflow.routing.candidates import installer_rows
from mailflow.routing.offers import (
    ROUTABLE,
    _bare,
    _uow,
    candidates_of,
    lock_lead,
    next_offer,
)


def offer_waiting_leads(
    settings: Settings, at: datetime, *, grace: timedelta = timedelta(seconds=30), batch: int = 500
) -> int:
    """Leads that wait for a free installer (and new leads whose routing job was lost, after
    ``grace``) are offered, oldest first, each in its own transaction. Within one pass an
    installer found busy stays busy (this pass only makes offers), so a lead whose possible
    installers are all busy is skipped without loading its figures: a queue of thousands of
    waiting leads costs a few queries per batch."""
    busy: set[int] = set()
    routed = 0
    after = None
    while True:
        with session_scope(settings) as session:
            query = (
                select(Lead.id, Lead.country, Lead.postcode, Lead.created_at)
                .where(
                    Lead.status == LeadStatus.NEW,
                    Lead.held_until.is_(None),  # held for working hours: its timer routes it
                    (Lead.waiting_since.is_not(None)) | (Lead.created_at <= at - grace),
                )
                .order_by(Lead.created_at, Lead.id)
                .limit(batch)
            )
            if after is not None:
                query = query.where(
                    (Lead.created_at > after[0])
                    | ((Lead.created_at == after[0]) & (Lead.id > after[1]))
                )
            rows = session.execute(query).all()
            if not rows:
                return routed
            offered: dict[int, set[int]] = {}
            for lead_id, installer_id in session.execute(
                select(Offer.lead_id, Offer.installer_id).where(
                    Offer.lead_id.in_([r.id for r in rows])
                )
            ):
                offered.setdefault(lead_id, set()).add(installer_id)
            installers = installer_rows(session)
        skipped: list[int] = []
        by_country: dict[str, list[Candidate]] = {}
        for i in installers:
            by_country.setdefault(i.country.upper(), []).append(_bare(i))
        for row in rows:
            serving = {
                c.id
                for c in by_country.get(row.country.upper(), [])
                if serving_prefix(c, row.postcode, row.country) is not None
            }
            untried = serving - offered.get(row.id, set())
            if untried and untried <= busy:
                skipped.append(row.id)  # everyone who could take it is busy: it waits
                continue
            # (Nobody left untried: routing decides, a second chance or the pool.)
            with session_scope(settings) as session:
                # A lead another transaction holds is being routed right now (its own job, or
                # another pass of the drain): passed over, not waited for, so passes that run
                # at once share the line instead of queueing on its first lead.
                lead = lock_lead(session, row.id, skip_locked=True)
                if lead is None or lead.status != LeadStatus.NEW:
                    continue
                uow = _uow(session, settings, at)
                result, offer = next_offer(uow, lead, in_order=True)
                uow.apply(result)
                if offer is not None:
                    routed += 1
                elif lead.status == LeadStatus.NEW:  # waits: those who could are busy
                    busy |= serving - offered.get(row.id, set())
        if skipped:  # in line, as the leads found waiting one by one
            with session_scope(settings) as session:
                session.execute(
                    update(Lead)
                    .where(
                        Lead.id.in_(skipped),
                        Lead.status == LeadStatus.NEW,
                        Lead.waiting_since.is_(None),
                    )
                    .values(waiting_since=at)
                )
        after = (rows[-1].created_at, rows[-1].id)
        if len(rows) < batch:
            return routed


# ------------------------------------------------------------------ why a lead waits -------
@dataclass(frozen=True)
class Blocked:
    """An installer who serves a waiting lead's postcode, with what keeps them from taking it:
    the rules' own reason (``domain.routing.ineligibility``), None when nothing does any more
    (a slot freed since: the lead is offered at the next pass, older leads first)."""

    installer: Candidate
    reason: str | None
    # The installer's own (day, week, month) caps: a cap in force below its own is the monthly
    # cap paced (``domain.routing.paced_caps``).
    own_caps: tuple[int | None, int | None, int | None] = (None, None, None)

    @property
    def busy(self) -> bool:
        return self.reason in BUSY


def why_waiting_many(
    session: Session, leads: Sequence[Lead], now: datetime, settings: Settings
) -> dict[int, list[Blocked]]:
    """Why each of these leads waits (read only): every installer serving its postcode and
    what blocks them, busy ones first. The installers' figures are loaded once for all the
    leads (a page of the admin's list: leads of one area share their installers), so the
    cost is a few queries per page, not per lead."""
    if not leads:
        return {}
    countries = {lead.country for lead in leads}
    installers = installer_rows(session, *countries)
    bare = {i.id: _bare(i) for i in installers}
    own = {i.id: (i.cap_day, i.cap_week, i.cap_month) for i in installers}
    serving = {
        lead.id: [
            i.id
            for i in installers
            if i.country == lead.country
            and serving_prefix(bare[i.id], lead.postcode, lead.country) is not None
        ]
        for lead in leads
    }
    wanted = {i for ids in serving.values() for i in ids}
    figures = {
        c.id: c
        for c in candidates_of(session, [i for i in installers if i.id in wanted], now, settings)
    }
    offered: dict[int, set[int]] = {}
    for lead_id, installer_id in session.execute(
        select(Offer.lead_id, Offer.installer_id).where(
            Offer.lead_id.in_([lead.id for lead in leads])
        )
    ):
        offered.setdefault(lead_id, set()).add(installer_id)
    why: dict[int, list[Blocked]] = {}
    for lead in leads:
        found = [
            Blocked(
                figures[i],
                ineligibility(
                    figures[i],
                    postcode=lead.postcode,
                    country=lead.country,
                    offered=offered.get(lead.id, set()),
                    now=now,
                ),
                own[i],
            )
            for i in serving[lead.id]
        ]
        found.sort(key=lambda b: (not b.busy, b.reason is None, b.installer.email))
        why[lead.id] = found
    return why


def outlook(blocked: list[Blocked]) -> str:
    """What the next pass of the drain does with a waiting lead, from why it waits: it keeps
    be offered when someone can take it now (``"offered"``, older leads first), keeps waiting
    while those who could take it are busy (``"waits"``), else goes to the pool (``"pool"``)."""
    if any(b.reason is None for b in blocked):
        return "offered"
    if any(b.busy for b in blocked):
        return "waits"
    return "pool"


def why_waiting(session: Session, lead: Lead, now: datetime, settings: Settings) -> list[Blocked]:
    """Why this lead waits: :func:`why_waiting_many` for one lead."""
    return why_waiting_many(session, [lead], now, settings)[lead.id]


def release_held(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    """Timer ``offer_release``: a lead held while its installer was out of hours is routed at
    the start of their working period (to them if they can still take it). Claimed with the
    timer in one transaction: acts once, and a restart loses nothing."""
    lead = lock_lead(session, timer.lead_id)
    if lead is None or lead.held_until is None:
        return
    lead.held_until = None
    if lead.status not in ROUTABLE:
        return  # an admin assigned it, or it left rotation meanwhile
    uow = _uow(session, settings, at)
    uow.apply(next_offer(uow, lead, in_order=True)[0])
