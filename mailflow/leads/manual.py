"""A lead an admin enters by hand (a phone call, a walk-in customer: the solarVis manual's
"manual creation"): the webhook's validation (``LeadIn``), source ``manual``, duplicate
detection as for every lead, and routing like any other new lead (``lead_created``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.intake.schema import LeadIn, Source
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.models import Actor, Lead, LeadEvent

CHANNEL = "admin"


def validate(payload: dict[str, Any], settings: Settings) -> LeadIn:
    """The webhook's schema, source ``manual`` whatever the payload says. Raises
    ``pydantic.ValidationError``."""
    return LeadIn.model_validate(
        {**payload, "source": Source.MANUAL.value},
        context={"default_country": settings.default_country},
    )


def create_manual_lead(
    session: Session, lead_in: LeadIn, *, by: str, now: datetime, settings: Settings
) -> Lead:
    """Insert the lead in the caller's transaction and start its routing after commit (a
    duplicate is kept, marked, and not offered, as for every channel)."""
    lead = create_lead(
        session,
        lead_in,
        now=now,
        source=Source.MANUAL.value,
        channel=CHANNEL,
        window_days=settings.duplicate_window_days,
        actor=Actor.ADMIN,
    )
    intake = session.scalar(
        select(LeadEvent).where(LeadEvent.lead_id == lead.id, LeadEvent.type == "intake").limit(1)
    )
    if intake is not None:  # who entered it, beside the actor on the timeline
        intake.data = {**(intake.data or {}), "by": by}
    lead_created(session, lead, now=now, settings=settings)
    return lead
