"""The per-installer performance table: for the offers made in the range (and the leads taken
through them), what each installer did with them.

- offered: offers emailed (claims from the exchange are counted apart, as ``claimed``);
- accepted / declined / timed out: offers by their outcome (still open or withdrawn ones count
  only as offered);
- median response: accept or decline, minutes after the offer;
- progress recorded: leads taken (accepted or claimed) on which the installer recorded a step
  after taking them;
- won: leads taken that are still theirs and were ordered (order placed, installation
  scheduled, installed);
- average rating: the customers' surveys submitted in the range (mean of each survey's marks);
- score and tier: the installer's current ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.reports.common import (
    WON,
    ReportFilters,
    installer_conditions,
    lead_conditions,
    mean,
    median,
    offers_in_range,
    status_history,
)
from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus
from mailflow.models import Installer, Lead, Survey

TAKEN = (OfferStatus.ACCEPTED, OfferStatus.CLAIMED)


@dataclass(frozen=True)
class InstallerRow:
    installer_id: int
    name: str
    company: str | None
    tier: str
    score: float | None
    offered: int
    accepted: int
    declined: int
    timed_out: int
    claimed: int
    median_response_minutes: float | None
    progress_recorded: int
    won: int
    average_rating: float | None
    ratings: int


SORT_KEYS = tuple(f.name for f in fields(InstallerRow) if f.name not in ("installer_id", "company"))
DEFAULT_SORT = "-offered"


def sort_rows(rows: list[InstallerRow], sort: str) -> list[InstallerRow]:
    """``sort`` is a column name, descending with a leading "-"; empty values always last."""
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        key, sort = DEFAULT_SORT[1:], DEFAULT_SORT
    descending = sort.startswith("-")
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]

    def value(row: InstallerRow):
        v = getattr(row, key)
        return v.casefold() if isinstance(v, str) else v

    present.sort(key=lambda r: r.installer_id)
    present.sort(key=value, reverse=descending)
    return present + sorted(missing, key=lambda r: r.installer_id)


def _ratings(session: Session, f: ReportFilters) -> dict[int, list[float]]:
    query = (
        select(Survey)
        .join(Lead, Lead.id == Survey.lead_id)
        .join(Installer, Installer.id == Survey.installer_id)
        .where(
            Survey.submitted_at >= f.start_at,
            Survey.submitted_at < f.end_at,
            *lead_conditions(f),
            *installer_conditions(f),
        )
    )
    marks: dict[int, list[float]] = defaultdict(list)
    for survey in session.scalars(query):
        if survey.average is not None:
            marks[survey.installer_id].append(survey.average)
    return marks


def installer_rows(
    session: Session, f: ReportFilters, sort: str = DEFAULT_SORT
) -> list[InstallerRow]:
    offers = offers_in_range(session, f)
    ratings = _ratings(session, f)
    taken = [o for o in offers if o.status in TAKEN]
    lead_ids = [o.lead_id for o in taken]
    history = status_history(session, lead_ids)
    leads = (
        {
            r.id: r
            for r in session.execute(
                select(Lead.id, Lead.status, Lead.assigned_installer_id).where(
                    Lead.id.in_(lead_ids)
                )
            )
        }
        if lead_ids
        else {}
    )
    by_installer = defaultdict(list)
    for offer in offers:
        by_installer[offer.installer_id].append(offer)
    wanted = set(by_installer) | set(ratings)
    query = select(Installer).where(*installer_conditions(f))
    rows = []
    for installer in session.scalars(query):
        if installer.id not in wanted:
            continue
        mine = by_installer.get(installer.id, [])
        progressed = won = 0
        for offer in mine:
            if offer.status not in TAKEN:
                continue
            since = offer.answered_at or offer.offered_at
            steps = history.get(offer.lead_id, [])
            if any(at >= since and actor == Actor.INSTALLER for at, _, actor in steps):
                progressed += 1
            lead = leads.get(offer.lead_id)
            if lead is not None and lead.assigned_installer_id == installer.id:
                if LeadStatus(lead.status) in WON:
                    won += 1
        marks = ratings.get(installer.id, [])
        rows.append(
            InstallerRow(
                installer_id=installer.id,
                name=installer.name,
                company=installer.company,
                tier=installer.tier,
                score=installer.score,
                offered=sum(1 for o in mine if o.status != OfferStatus.CLAIMED),
                accepted=sum(1 for o in mine if o.status == OfferStatus.ACCEPTED),
                declined=sum(1 for o in mine if o.status == OfferStatus.DECLINED),
                timed_out=sum(1 for o in mine if o.status == OfferStatus.EXPIRED),
                claimed=sum(1 for o in mine if o.status == OfferStatus.CLAIMED),
                median_response_minutes=median(
                    m for o in mine if (m := o.response_minutes) is not None
                ),
                progress_recorded=progressed,
                won=won,
                average_rating=mean(marks),
                ratings=len(marks),
            )
        )
    return sort_rows(rows, sort)
