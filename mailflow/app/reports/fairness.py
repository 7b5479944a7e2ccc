"""The fairness check of the admin reports (#20, ``/admin/reports/fairness``): the routing
decisions of the range (by the day they were made) as :mod:`mailflow.domain.fairness` reads
them, with each installer's name and tier now. The area, product and source filters select the
decisions' leads; the installer and tier filters, the rows shown."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.reports.common import ReportFilters, lead_conditions
from mailflow.domain.fairness import COUNTED_KINDS, Decision, Share, shares
from mailflow.models import Installer, Lead, RoutingDecision


@dataclass(frozen=True)
class FairnessRow:
    installer_id: int
    email: str
    name: str
    tier: str
    share: Share


@dataclass(frozen=True)
class FairnessReport:
    decisions: int  # decisions that made one offer, in the range
    rows: list[FairnessRow]


def fairness_report(
    session: Session, f: ReportFilters, weights: dict[str, float]
) -> FairnessReport:
    query = (
        select(RoutingDecision.kind, RoutingDecision.installer_id, RoutingDecision.candidates)
        .join(Lead, Lead.id == RoutingDecision.lead_id)
        .where(
            RoutingDecision.at >= f.start_at,
            RoutingDecision.at < f.end_at,
            RoutingDecision.kind.in_(COUNTED_KINDS),
            *lead_conditions(f),
        )
        .order_by(RoutingDecision.id)
    )
    decisions = [
        Decision(kind, chosen, candidates or [])
        for kind, chosen, candidates in session.execute(query)
    ]
    figures = shares(decisions, weights)
    people = (
        {
            i.id: i
            for i in session.scalars(
                select(Installer).where(Installer.id.in_([s.installer_id for s in figures]))
            )
        }
        if figures
        else {}
    )
    rows = []
    for share in figures:
        installer = people.get(share.installer_id)
        if installer is None:
            continue  # deleted since
        if f.installer_id is not None and installer.id != f.installer_id:
            continue
        if f.tier and installer.tier != f.tier:
            continue
        rows.append(
            FairnessRow(installer.id, installer.email, installer.name or "", installer.tier, share)
        )
    return FairnessReport(sum(1 for d in decisions if d.chosen is not None), rows)
