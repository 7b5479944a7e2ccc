"""Routing decisions (#20): each offer is recorded with every candidate's verdict, in the
offer's transaction (a ``RecordDecision`` effect applied by the unit of work before the offer
email is written, so the email can say "why you")."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.domain.effects import Outcome, RecordDecision, outcome
from mailflow.domain.routing import Candidate
from mailflow.domain.routing_why import KEEP, explain
from mailflow.models import Lead, Offer, RoutingDecision

OFFERED, SECOND_CHANCE, ESCALATED, POOLED = "offered", "second_chance", "escalated", "pooled"


class Seen(NamedTuple):
    """What the routing step already read: the status of each installer's last offer of the
    lead (declined, expired, ...), and how many of the country's installers do not serve its
    postcode (counted, not listed: there may be thousands)."""

    previous: dict[int, str]
    outside: int
    busy: frozenset[int] = frozenset()  # being offered another lead by another worker


def decided(
    uow: UnitOfWork,
    lead: Lead,
    candidates: list[Candidate],
    where: dict,
    offers: list[Offer],
    seen: Seen,
    *,
    kind: str = OFFERED,
    ranked: list[Candidate] | None = None,
) -> Outcome:
    """One decision per offer made (an escalated lead gets several at once); with no offer
    (``POOLED``), one decision that says why nobody could take the lead. ``ranked``: the
    routing step's ranking of ``candidates`` under ``where`` (not ranked again)."""
    why = explain(
        candidates,
        **where,
        shares=uow.settings.share_weights,
        previous=seen.previous,
        busy=seen.busy,
        escalated=kind == ESCALATED,
        second_chance=kind == SECOND_CHANCE,
        facts_for=KEEP,
        ranked=ranked,
    )
    stored, rest = why.bounded(KEEP)
    if seen.outside:
        rest = {**rest, "out_of_area": rest.get("out_of_area", 0) + seen.outside}
    reasons = {v.installer_id: v.reason for v in why.verdicts}
    made = [(o.id, o.installer_id) for o in offers] or [(None, None)]
    return outcome(
        *(
            RecordDecision(
                lead_id=lead.id,
                offer_id=offer_id,
                installer_id=installer_id,
                kind=kind,
                reason=reasons.get(installer_id) if installer_id is not None else None,
                candidates=tuple(stored),
                rest=rest,
            )
            for offer_id, installer_id in made
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


def of_lead(session: Session, lead_id: int) -> list[RoutingDecision]:
    return list(
        session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.lead_id == lead_id)
            .order_by(RoutingDecision.at, RoutingDecision.id)
        )
    )
