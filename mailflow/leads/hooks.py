"""What happens once a lead exists: its rotation starts (after commit)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailflow.infra.enqueue import enqueue_on_commit
from mailflow.models import Lead, LeadStatus


def lead_created(session: Session, lead: Lead) -> None:
    """Called in the creating transaction: a new lead is routed once it is committed."""
    if lead.status == LeadStatus.NEW:
        enqueue_on_commit(session, "route_lead_job", lead.id)
