"""The reports' date range and filters, and the lead and offer rows they select.

A report covers whole days of the admin time zone (``zone``, MAILFLOW_ADMIN_TIME_ZONE on the
pages; UTC by default), ``start`` to ``end`` inclusive. Lead figures count leads
created in the range; offer figures count offers made in the range (by the day offered).
Filters: area (a postcode prefix), product, source (the lead's), installer and tier (the
installer's current tier): for lead figures, a lead matches an installer filter when it was
offered to, claimed by or assigned to a matching installer.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from mailflow.clock import as_utc
from mailflow.domain.statuses import LeadStatus, OfferStatus
from mailflow.models import Installer, Lead, LeadEvent, Offer

DEFAULT_DAYS = 30
MAX_DAYS = 366
TIERS = ("gold", "silver", "bronze")

# The stages of a lead's way from offer to installation, in order (funnel, "progress").
PIPELINE = (
    LeadStatus.ACCEPTED,
    LeadStatus.CONTACT_ATTEMPTED,
    LeadStatus.FIRST_CONTACT,
    LeadStatus.QUOTE_SENT,
    LeadStatus.ORDER_PLACED,
    LeadStatus.INSTALLATION_SCHEDULED,
    LeadStatus.INSTALLED,
)
RANK = {status.value: index for index, status in enumerate(PIPELINE)}
# A lead is won once the customer ordered.
WON = frozenset({LeadStatus.ORDER_PLACED, LeadStatus.INSTALLATION_SCHEDULED, LeadStatus.INSTALLED})
NOT_RECEIVED = frozenset({LeadStatus.DUPLICATE, LeadStatus.QUARANTINED, LeadStatus.HELD})


class BadFilter(ValueError):
    """A filter value a report cannot use (the page answers 400)."""


@dataclass(frozen=True)
class ReportFilters:
    start: date
    end: date  # inclusive
    area: str = ""  # postcode prefix, upper case, no spaces
    product: str = ""
    source: str = ""
    installer_id: int | None = None
    tier: str = ""
    zone: str = "UTC"  # the days' time zone (an IANA name); not a query parameter

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise BadFilter("the range ends before it starts")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise BadFilter(f"a report covers at most {MAX_DAYS} days")
        if self.tier and self.tier not in TIERS:
            raise BadFilter(f"tiers are: {', '.join(TIERS)}")

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        """The first instant after the range."""
        next_day = datetime.combine(self.end + timedelta(days=1), time(), ZoneInfo(self.zone))
        return next_day.astimezone(UTC)

    def day_of(self, at: datetime) -> date:
        """The day of the report's zone that ``at`` (stored in UTC) falls on."""
        return as_utc(at).astimezone(ZoneInfo(self.zone)).date()

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this report (for links, exports, sort headers)."""
        shown = replace(self, **changes) if changes else self
        values = {
            "start": shown.start.isoformat(),
            "end": shown.end.isoformat(),
            "area": shown.area,
            "product": shown.product,
            "source": shown.source,
            "installer": str(shown.installer_id) if shown.installer_id else "",
            "tier": shown.tier,
        }
        return {k: v for k, v in values.items() if v}


def default_range(today: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    return today - timedelta(days=days - 1), today


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def rate(part: int, whole: int) -> float | None:
    """A percentage, or None when there is nothing to divide."""
    return 100 * part / whole if whole else None


def quote_amount(progress: dict | None) -> float:
    quote = (progress or {}).get("quote") or {}
    try:
        return float(quote.get("amount") or 0)
    except (TypeError, ValueError):
        return 0.0


# ------------------------------------------------------------------ conditions --------------
def lead_conditions(f: ReportFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.area:
        conds.append(Lead.postcode.startswith(f.area, autoescape=True))
    if f.product:
        conds.append(Lead.product == f.product)
    if f.source:
        conds.append(Lead.source == f.source)
    return conds


def installer_conditions(f: ReportFilters) -> list[ColumnElement[bool]]:
    """Conditions on ``Installer`` (joined by the caller)."""
    conds: list[ColumnElement[bool]] = []
    if f.installer_id is not None:
        conds.append(Installer.id == f.installer_id)
    if f.tier:
        conds.append(Installer.tier == f.tier)
    return conds


def lead_installer_condition(f: ReportFilters) -> ColumnElement[bool] | None:
    """A lead offered to, claimed by or assigned to an installer matching the filters."""
    conds = installer_conditions(f)
    if not conds:
        return None
    matching = select(Installer.id).where(*conds)
    offered = exists().where(Offer.lead_id == Lead.id, Offer.installer_id.in_(matching))
    return or_(offered, Lead.assigned_installer_id.in_(matching))


# ------------------------------------------------------------------ rows --------------------
@dataclass(frozen=True)
class LeadRow:
    id: int
    created_at: datetime
    source: str
    product: str | None
    status: LeadStatus
    accepted_at: datetime | None
    assigned_installer_id: int | None
    duplicate: bool
    quote: float


@dataclass(frozen=True)
class OfferRow:
    id: int
    lead_id: int
    installer_id: int
    status: OfferStatus
    offered_at: datetime
    answered_at: datetime | None
    deadline: datetime

    @property
    def response_minutes(self) -> float | None:
        if self.status in (OfferStatus.ACCEPTED, OfferStatus.DECLINED) and self.answered_at:
            return minutes(self.answered_at - self.offered_at)
        return None


def leads_in_range(session: Session, f: ReportFilters) -> list[LeadRow]:
    conds = [Lead.created_at >= f.start_at, Lead.created_at < f.end_at, *lead_conditions(f)]
    by_installer = lead_installer_condition(f)
    if by_installer is not None:
        conds.append(by_installer)
    query = (
        select(
            Lead.id,
            Lead.created_at,
            Lead.source,
            Lead.product,
            Lead.status,
            Lead.accepted_at,
            Lead.assigned_installer_id,
            Lead.duplicate_of_id,
            Lead.progress,
        )
        .where(*conds)
        .order_by(Lead.id)
    )
    return [
        LeadRow(
            id=r.id,
            created_at=r.created_at,
            source=r.source,
            product=r.product,
            status=LeadStatus(r.status),
            accepted_at=r.accepted_at,
            assigned_installer_id=r.assigned_installer_id,
            duplicate=r.duplicate_of_id is not None or r.status == LeadStatus.DUPLICATE,
            quote=quote_amount(r.progress),
        )
        for r in session.execute(query)
    ]


def offers_in_range(session: Session, f: ReportFilters) -> list[OfferRow]:
    query = (
        select(
            Offer.id,
            Offer.lead_id,
            Offer.installer_id,
            Offer.status,
            Offer.offered_at,
            Offer.answered_at,
            Offer.deadline,
        )
        .join(Lead, Lead.id == Offer.lead_id)
        .join(Installer, Installer.id == Offer.installer_id)
        .where(
            Offer.offered_at >= f.start_at,
            Offer.offered_at < f.end_at,
            *lead_conditions(f),
            *installer_conditions(f),
        )
        .order_by(Offer.id)
    )
    return [
        OfferRow(
            id=r.id,
            lead_id=r.lead_id,
            installer_id=r.installer_id,
            status=OfferStatus(r.status),
            offered_at=r.offered_at,
            answered_at=r.answered_at,
            deadline=r.deadline,
        )
        for r in session.execute(query)
    ]


def status_history(session: Session, lead_ids: Iterable[int]) -> dict[int, list[tuple]]:
    """Per lead, the steps recorded on it: (at, status, actor), oldest first."""
    ids = sorted(set(lead_ids))
    history: dict[int, list[tuple]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            select(LeadEvent.lead_id, LeadEvent.at, LeadEvent.data, LeadEvent.actor)
            .where(LeadEvent.lead_id.in_(chunk), LeadEvent.type == "status")
            .order_by(LeadEvent.id)
        )
        for lead_id, at, data, actor in session.execute(query):
            status = (data or {}).get("status")
            if status:
                history.setdefault(lead_id, []).append((at, str(status), actor))
    return history
