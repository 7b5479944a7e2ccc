"""Speed to lead (#20): median and 90th percentile of the time from a lead's arrival to its
acceptance and to its holder's first contact, overall and per installer (the holder), source,
product and tier (the holder's, now), and the median time to first contact per day.

One computation for every reader: ``GET /api/speed``, the admin report
(``/admin/reports/speed``, its CSV and XLSX) and the installer's own figures on their
dashboard all call ``speed_rows`` and ``speed_groups`` (the figures themselves:
``mailflow.domain.speed``). Leads marked as duplicates are left out; a lead nobody took yet
counts in "leads" but has no time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from mailflow.app.reports.common import ReportFilters, installer_conditions, lead_conditions
from mailflow.clock import as_utc
from mailflow.domain.speed import SpeedFigures, SpeedRow, speed_figures
from mailflow.domain.statuses import LeadStatus
from mailflow.models import Installer, Lead

SPEED_GROUPS = ("installer", "source", "product", "tier")


@dataclass(frozen=True)
class SpeedLead:
    """A lead as the speed figures see it: its times, and the keys it is grouped by."""

    arrived_at: datetime
    accepted_at: datetime | None
    first_contact_at: datetime | None
    source: str
    product: str | None
    installer: str | None  # the holder's email
    tier: str | None  # the holder's tier, now

    @property
    def row(self) -> SpeedRow:
        return SpeedRow(self.arrived_at, self.accepted_at, self.first_contact_at)

    def key(self, by: str | None) -> str | None:
        return getattr(self, by) if by in SPEED_GROUPS else None


class SpeedGroup(NamedTuple):
    key: str | None  # installer email, source, product or tier; None = all (or none known)
    leads: int
    figures: SpeedFigures


def speed_rows(
    session: Session,
    *,
    since: datetime | None,
    until: datetime | None,
    conditions: Sequence[ColumnElement[bool]] = (),
) -> list[SpeedLead]:
    """The leads that arrived in [since, until) (duplicates aside) and match ``conditions``
    (on ``Lead`` and on the holder, ``Installer``, outer-joined)."""
    query = (
        select(
            Lead.created_at,
            Lead.accepted_at,
            Lead.first_contact_at,
            Lead.source,
            Lead.product,
            Installer.email,
            Installer.tier,
        )
        .outerjoin(Installer, Lead.assigned_installer_id == Installer.id)
        .where(Lead.status != LeadStatus.DUPLICATE, *conditions)
        .order_by(Lead.id)
    )
    if since is not None:
        query = query.where(Lead.created_at >= since)
    if until is not None:
        query = query.where(Lead.created_at < until)
    return [
        SpeedLead(
            as_utc(created),
            as_utc(accepted) if accepted else None,
            as_utc(contact) if contact else None,
            source,
            product,
            email,
            tier,
        )
        for created, accepted, contact, source, product, email, tier in session.execute(query)
    ]


def speed_groups(rows: Iterable[SpeedLead], by: str | None) -> list[SpeedGroup]:
    """Overall (``by`` None: one group, key None) or per key, keys sorted (None last)."""
    groups: dict[str | None, list[SpeedRow]] = {}
    for lead in rows:
        groups.setdefault(lead.key(by), []).append(lead.row)
    return [
        SpeedGroup(key, len(members), speed_figures(members))
        for key, members in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]


def speed_report(
    session: Session, *, since: datetime | None, until: datetime | None, by: str | None
) -> list[SpeedGroup]:
    """The figures ``GET /api/speed`` answers: overall or per ``by``."""
    return speed_groups(speed_rows(session, since=since, until=until), by)


def installer_speed(
    session: Session, installer_id: int, *, since: datetime, until: datetime | None = None
) -> SpeedFigures:
    """One installer's own figures: the leads they hold that arrived since ``since``."""
    rows = speed_rows(
        session,
        since=since,
        until=until,
        conditions=[Lead.assigned_installer_id == installer_id],
    )
    return speed_figures(lead.row for lead in rows)


# ------------------------------------------------------------------ the admin report --------
@dataclass(frozen=True)
class SpeedReport:
    overall: SpeedGroup
    tables: dict[str, list[SpeedGroup]]  # per SPEED_GROUPS key
    days: list[date]
    median_contact_per_day: list[timedelta | None]  # by the day of arrival
    median_accept_per_day: list[timedelta | None]


def filter_conditions(f: ReportFilters) -> list[ColumnElement[bool]]:
    """The report's filters: area, product and source on the lead, installer and tier on its
    holder (whose speed it is)."""
    return [*lead_conditions(f), *installer_conditions(f)]


def speed_for_report(session: Session, f: ReportFilters) -> SpeedReport:
    """The speed report of the range's days (in the report's zone) and filters: the same rows
    and groups ``GET /api/speed`` gives for the same instants."""
    rows = speed_rows(session, since=f.start_at, until=f.end_at, conditions=filter_conditions(f))
    overall = speed_groups(rows, None)
    per_day: dict[date, list[SpeedLead]] = {}
    for lead in rows:
        per_day.setdefault(f.day_of(lead.arrived_at), []).append(lead)
    daily = [speed_figures(lead.row for lead in per_day.get(day, [])) for day in f.days]
    return SpeedReport(
        overall=overall[0] if overall else SpeedGroup(None, 0, speed_figures([])),
        tables={by: speed_groups(rows, by) for by in SPEED_GROUPS},
        days=f.days,
        median_contact_per_day=[d.to_first_contact.median for d in daily],
        median_accept_per_day=[d.to_acceptance.median for d in daily],
    )
