"""Actors and sweep jobs of the offer lifecycle. Arguments are ids; work is in ``offers``."""

from __future__ import annotations

from datetime import datetime, timedelta

import dramatiq
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.models import Lead, LeadStatus
from mailflow.scheduler import sweep_job
from mailflow.tasks import enqueue_on_commit, retry_while_database_unavailable


@dramatiq.actor(queue_name="routing", max_retries=5, min_backoff=1000)
@retry_while_database_unavailable
def route_lead_job(lead_id: int) -> None:
    from mailflow.routing.offers import route_lead

    settings = get_settings()
    with session_scope(settings) as session:
        route_lead(session, lead_id, now=now(), settings=settings)


def route_new_lead(session: Session, lead: Lead) -> None:
    """Called when a lead is created: rotation starts after the lead is committed."""
    if lead.status == LeadStatus.NEW:
        enqueue_on_commit(session, route_lead_job, lead.id)


@sweep_job("offers")
def expire_offers(settings: Settings, at: datetime) -> int:
    from mailflow.routing.offers import expire_due_offers

    return expire_due_offers(settings, at)


@sweep_job("route")
def route_waiting_leads(settings: Settings, at: datetime) -> int:
    """New leads whose routing job was lost, and pool leads that may have a taker now."""
    from mailflow.routing.offers import reoffer_pool, route_lead

    with session_scope(settings) as session:
        stuck = list(
            session.scalars(
                select(Lead.id)
                .where(Lead.status == LeadStatus.NEW, Lead.created_at <= at - timedelta(seconds=30))
                .order_by(Lead.id)
                .limit(500)
            )
        )
    routed = 0
    for lead_id in stuck:
        with session_scope(settings) as session:
            if route_lead(session, lead_id, now=at, settings=settings):
                routed += 1
    return routed + reoffer_pool(settings, at)
