"""What happens once a lead exists: its rotation starts (after commit)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailflow.models import Lead


def lead_created(session: Session, lead: Lead) -> None:
    """Called in the creating transaction."""
    from mailflow.routing.actors import route_new_lead

    route_new_lead(session, lead)
