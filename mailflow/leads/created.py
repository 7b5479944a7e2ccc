"""What a new lead causes: the ``LeadCreated`` event (its rotation starts after commit, a
reaction in ``mailflow.reactions``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.domain.effects import NOTHING, Enqueue, Outcome, outcome
from mailflow.domain.events import LeadCreated
from mailflow.models import Lead, LeadStatus


def lead_created(session: Session, lead: Lead, *, now: datetime, settings: Settings) -> None:
    """Called in the creating transaction, once the lead has its id."""
    UnitOfWork(session, settings, now).apply(outcome(LeadCreated(lead.id, str(lead.status))))


def route_new_lead(uow: UnitOfWork, event: LeadCreated) -> Outcome:
    """Reaction: a new lead is routed once it is committed (a job, so intake answers fast)."""
    if event.status != LeadStatus.NEW:
        return NOTHING
    return outcome(Enqueue("route_lead_job", (event.lead_id,)))
