"""The line of waiting leads: leads whose possible installers are all busy (capacity, open
offers, caps) are offered oldest first as answers free slots, by the drain job and every sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.routing import Candidate, serving_prefix
from mailflow.models import Installer, Lead, LeadStatus, Offer
from mailflow.routing.offers import _bare, _uow, lock_lead, next_offer


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
            installers = list(session.scalars(select(Installer)))
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
            if serving and serving <= busy | offered.get(row.id, set()):
                skipped.append(row.id)  # everyone who could take it is busy: it waits
                continue
            with session_scope(settings) as session:
                lead = lock_lead(session, row.id)
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
