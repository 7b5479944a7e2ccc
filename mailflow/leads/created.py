"""What a new lead causes: the ``LeadCreated`` event, whose reaction (in ``mailflow.reactions``)
starts its rotation: in the creating transaction when the creator is the inbound job
(``route_inline``), else by ``route_lead_job`` after commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.domain.effects import NOTHING, Enqueue, Outcome, outcome
from mailflow.domain.events import LeadCreated
from mailflow.models import Lead, LeadStatus
from mailflow.routing.offers import next_offer


def lead_created(
    session: Session,
    lead: Lead,
    *,
    now: datetime,
    settings: Settings,
    route_inline: bool = False,
) -> None:
    """Called in the creating transaction, once the lead has its id. ``route_inline``: the
    caller is a background job, and a new lead gets its offer in this very transaction (one
    job from stored message to queued offer); otherwise ``route_lead_job`` routes it after
    commit, so that a web request (the webhook, an admin) answers at once."""
    uow = UnitOfWork(session, settings, now, route_new_leads=route_inline)
    uow.kept.append(lead)  # it may not be written yet: routing takes it from here
    uow.apply(outcome(LeadCreated(lead.id, str(lead.status))))


def route_new_lead(uow: UnitOfWork, event: LeadCreated) -> Outcome:
    """Reaction: a new lead is offered, here (inbound job) or by a job after commit."""
    if event.status != LeadStatus.NEW:
        return NOTHING
    if not uow.route_new_leads:
        return outcome(Enqueue("route_lead_job", (event.lead_id,)))
    # Created in this transaction: no other transaction can see the row, so it needs no lock
    # (``lock_lead``'s FOR UPDATE), and it is in the unit of work already (perhaps not yet
    # written: its INSERT goes with its offer's), so no read either.
    lead = next(
        (o for o in uow.kept if isinstance(o, Lead) and o.id == event.lead_id), None
    ) or uow.session.get(Lead, event.lead_id)
    return next_offer(uow, lead, new=True)[0]
