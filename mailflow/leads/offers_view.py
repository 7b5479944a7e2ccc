"""The offers of a lead as the API shows them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailflow.models import Lead, Offer
from mailflow.web.serialize import iso


def offers_for(session: Session, lead: Lead) -> list[dict]:
    rows = session.scalars(
        select(Offer)
        .where(Offer.lead_id == lead.id)
        .options(selectinload(Offer.installer))
        .order_by(Offer.id)
    )
    return [
        {
            "installer": o.installer.email,
            "status": o.status.value,
            "offered_at": iso(o.offered_at),
            "deadline": iso(o.deadline),
            "answered_at": iso(o.answered_at),
            "decline_reason": o.decline_reason,
            "reason": o.routing_reason,
        }
        for o in rows
    ]
