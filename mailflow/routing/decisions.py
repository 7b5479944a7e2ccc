"""Routing decisions (#20): each offer is recorded with every candidate's verdict, in the
offer's transaction (a ``RecordDecision`` effect applied by the unit of work before the offer
email is written, so the email can say "why you")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.domain.effects import Outcome, RecordDecision, outcome
from mailflow.domain.routing import Candidate
from mailflow.domain.routing_why import explain
from mailflow.models import Installer, Lead, Offer, RoutingDecision

OFFERED, SECOND_CHANCE, ESCALATED = "offered", "second_chance", "escalated"


def bystanders(session: Session, lead: Lead, serving: set[int]) -> list[Candidate]:
    """The lead's country's installers who do not serve its postcode, without the figures
    (they are out of the area whatever their figures)."""
    return [
        Candidate(
            id=i.id,
            email=i.email,
            country=i.country,
            postcodes=tuple(i.postcode_prefixes),
            tier=i.tier,
            active=i.active,
            vacation_from=i.vacation_from,
            vacation_until=i.vacation_until,
            bounced=i.bounced_at is not None,
            capacity=i.capacity,
        )
        for i in session.scalars(
            select(Installer).where(Installer.country == lead.country).order_by(Installer.id)
        )
        if i.id not in serving
    ]


def previous_statuses(session: Session, lead: Lead) -> dict[int, str]:
    """The status of each installer's last offer of the lead (declined, expired, ...)."""
    rows = session.execute(
        select(Offer.installer_id, Offer.status).where(Offer.lead_id == lead.id).order_by(Offer.id)
    )
    return {installer_id: getattr(status, "value", status) for installer_id, status in rows}


def decided(
    uow: UnitOfWork,
    lead: Lead,
    candidates: list[Candidate],
    where: dict,
    offers: list[Offer],
    *,
    kind: str = OFFERED,
) -> Outcome:
    """One decision per offer made (an escalated lead gets several at once)."""
    others = bystanders(uow.session, lead, {c.id for c in candidates})
    why = explain(
        candidates + others,
        **where,
        shares=uow.settings.share_weights,
        previous=previous_statuses(uow.session, lead),
        escalated=kind == ESCALATED,
        second_chance=kind == SECOND_CHANCE,
    )
    stored, rest = why.bounded()
    reasons = {v.installer_id: v.reason for v in why.verdicts}
    return outcome(
        *(
            RecordDecision(
                lead_id=lead.id,
                offer_id=o.id,
                installer_id=o.installer_id,
                kind=kind,
                reason=reasons.get(o.installer_id),
                candidates=tuple(stored),
                rest=rest,
            )
            for o in offers
        )
    )


def offers_made_since(session: Session, lead: Lead, first: Offer | None) -> list[Offer]:
    """The offers an escalation just made (ids from the first one on)."""
    if first is None:
        return []
    return list(
        session.scalars(
            select(Offer).where(Offer.lead_id == lead.id, Offer.id >= first.id).order_by(Offer.id)
        )
    )


def of_offer(session: Session, offer_id: int) -> RoutingDecision | None:
    return session.scalar(
        select(RoutingDecision)
        .where(RoutingDecision.offer_id == offer_id)
        .order_by(RoutingDecision.id.desc())
        .limit(1)
    )


def of_lead(session: Session, lead_id: int) -> list[RoutingDecision]:
    return list(
        session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.lead_id == lead_id)
            .order_by(RoutingDecision.at, RoutingDecision.id)
        )
    )
