"""The candidate installers of a lead, read as plain rows (#21): the columns the rules need,
never ORM objects, and every candidate's figures (recent offers, last offer, open offers,
held leads, the period's offers against the caps) in one statement for all of them, whatever
their number (one more per other time zone among those with caps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, literal_column, null, or_, select, union_all
from sqlalchemy.orm import Session

from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.domain.routing import Candidate, available_days, paced_caps, period_starts
from mailflow.models import HELD_STATUSES, Installer, Lead, Offer, OfferStatus


class InstallerRow(NamedTuple):
    """What routing reads of an installer (the attribute names of ``Installer``)."""

    id: int
    email: str
    country: str
    postcodes: str
    tier: str
    active: bool
    vacation_from: datetime | None
    vacation_until: datetime | None
    bounced_at: datetime | None
    capacity: int
    rating: float | None
    cap_day: int | None
    cap_week: int | None
    cap_month: int | None
    timezone: str


COLUMNS = tuple(getattr(Installer, name) for name in InstallerRow._fields)


# What the figures are computed from: a plain row, or an installer already loaded.
Routable = InstallerRow | Installer


def installer_rows(session: Session, *countries: str) -> list[InstallerRow]:
    """Every installer of these countries (of all with none given), as plain rows (one
    statement)."""
    if countries:
        rows = session.execute(_OF_COUNTRIES, {"countries": list(countries)})
    else:
        rows = session.execute(_ALL)
    return [InstallerRow(*row) for row in rows]


# Built once (#21): building a statement per lead costs more CPU than its round trip.
_ALL = select(*COLUMNS).order_by(Installer.id)
_OF_COUNTRIES = _ALL.where(Installer.country.in_(bindparam("countries", expanding=True)))


# Up to this many candidates their ids are sent with the statement; beyond, the statements
# select them by country (a subquery) and the figures of others are ignored.
LISTED = 500


def _ids_clause(column, installers: Sequence[Routable]):
    countries = {i.country for i in installers}
    if len(installers) <= LISTED or len(countries) != 1:
        return column.in_([i.id for i in installers])
    return column.in_(select(Installer.id).where(Installer.country == countries.pop()))


# The last column of the first statement's rows: which of its two parts a row comes from.
_OFFERS, _HELD = literal_column("0"), literal_column("1")


def _figures(
    session: Session, installers: Sequence[Routable], now: datetime
) -> tuple[dict[int, tuple], dict[int, int]]:
    """Per installer: offers in the last 30 days, the last of them, open offers, and the leads
    offered in their current day, week and month (withdrawn offers and approved bad-lead
    reports aside, as ``standing.period_counts``) when they have caps; and the leads they hold.
    One statement (the held leads' counts are a second part of it, ``UNION ALL``), one more
    per other time zone among the capped."""
    since = now - timedelta(days=30)
    capped: dict[str, list[Routable]] = {}
    for i in installers:
        if i.cap_day is not None or i.cap_week is not None or i.cap_month is not None:
            capped.setdefault(i.timezone or "UTC", []).append(i)
    # Each statement covers every installer (the 30 days' figures) and the periods of one zone.
    zones = list(capped) or [None]
    figures: dict[int, tuple] = {}
    held: dict[int, int] = {}
    if zones == [None] and len(installers) <= LISTED:
        # The common case (nobody capped) is one statement built once (#21).
        ids = [i.id for i in installers]
        params = {"since": since, "ids": ids, "held_ids": ids}
        for row in session.execute(_UNCAPPED, params):
            if row[-1] == 1:
                held[row[0]] = int(row[1])
            else:
                figures[row[0]] = [int(row[1] or 0), row[2], int(row[3] or 0), {}]
        return figures, held
    for index, zone in enumerate(zones):
        offered = Offer.offered_at
        columns = [Offer.installer_id]
        lower = since
        if index == 0:
            columns += _recent(since)
        if zone is not None:
            day, week, month = period_starts(now, zone)
            lower = min(lower, week, month) if index == 0 else min(week, month)
            counted = and_(Offer.status != OfferStatus.WITHDRAWN, Offer.returned_at.is_(None))
            columns += [
                func.count().filter(and_(counted, offered >= start)) for start in (day, week, month)
            ]
        who = installers if index == 0 else capped[zone]
        where = offered >= lower
        if index == 0:
            where = or_(where, Offer.status == OfferStatus.OFFERED)
        statement = (
            select(*columns, _OFFERS)
            .where(_ids_clause(Offer.installer_id, who), where)
            .group_by(Offer.installer_id)
        )
        if index == 0:
            in_ids = _ids_clause(Lead.assigned_installer_id, installers)
            statement = union_all(statement, _held_counts(in_ids, len(columns) - 2))
        for row in session.execute(statement):
            if index == 0 and row[-1] == 1:
                held[row[0]] = int(row[1])
                continue
            mine = figures.setdefault(row[0], [0, None, 0, {}])
            rest = row[1:-1]
            if index == 0:
                mine[0], mine[1], mine[2] = int(rest[0] or 0), rest[1], int(rest[2] or 0)
                rest = rest[3:]
            if zone is not None:
                mine[3][zone] = tuple(int(n or 0) for n in rest)
    return figures, held


def _recent(since):
    """Offers since ``since`` (30 days), the last of them, and open offers: the columns every
    installer's figures start with."""
    offered = Offer.offered_at
    return [
        func.count().filter(offered >= since),
        func.max(offered).filter(offered >= since),
        func.count().filter(Offer.status == OfferStatus.OFFERED),
    ]


def _held_counts(in_ids, padding: int):
    """Rows (installer, the leads they hold, ``padding`` empty columns, ``_HELD``) of the
    installers ``in_ids`` (a clause on ``Lead.assigned_installer_id``) selects."""
    return (
        select(Lead.assigned_installer_id, func.count(), *[null()] * padding, _HELD)
        .where(in_ids, Lead.status.in_(HELD_STATUSES))
        .group_by(Lead.assigned_installer_id)
    )


def _uncapped_statement():
    """``_figures``' statement when nobody is capped, built once: ids listed (``:ids``,
    ``:held_ids``) and ``:since`` bound."""
    since = bindparam("since")
    offers = (
        select(Offer.installer_id, *_recent(since), _OFFERS)
        .where(
            Offer.installer_id.in_(bindparam("ids", expanding=True)),
            or_(Offer.offered_at >= since, Offer.status == OfferStatus.OFFERED),
        )
        .group_by(Offer.installer_id)
    )
    held_ids = Lead.assigned_installer_id.in_(bindparam("held_ids", expanding=True))
    return union_all(offers, _held_counts(held_ids, 2))


_UNCAPPED = _uncapped_statement()


def figures_of(
    session: Session,
    installers: Iterable[Routable],
    now: datetime,
    settings: Settings | None = None,
) -> list[Candidate]:
    """These installers as the rules see them, with their figures (one statement for all, one
    more per other time zone among those with caps)."""
    installers = list(installers)
    if not installers:
        return []
    offers, held = _figures(session, installers, now)
    limit = settings.max_pending_offers if settings is not None else None
    day_pct = settings.pacing_day_percent if settings is not None else 10.0
    week_pct = settings.pacing_week_percent if settings is not None else 30.0
    none = (0, None, 0, {})
    out = []
    for i in installers:
        recent, last, pending, periods = offers.get(i.id, none)
        caps = paced_caps(
            i.cap_day, i.cap_week, i.cap_month, day_percent=day_pct, week_percent=week_pct
        )
        used = periods.get(i.timezone or "UTC", (0, 0, 0)) if any(caps) else (0, 0, 0)
        out.append(
            Candidate(
                id=i.id,
                email=i.email,
                country=i.country,
                postcodes=tuple(i.postcodes.split()),
                tier=i.tier,
                active=i.active,
                vacation_from=i.vacation_from,
                vacation_until=i.vacation_until,
                bounced=i.bounced_at is not None,
                capacity=i.capacity,
                open_leads=held.get(i.id, 0),
                rating=i.rating,
                offers_30d=recent,
                available_days=available_days(i.vacation_from, i.vacation_until, now),
                last_offer_at=as_utc(last) if last is not None else None,
                pending_offers=pending,
                pending_limit=limit,
                offers_day=used[0],
                offers_week=used[1],
                offers_month=used[2],
                cap_day=caps[0],
                cap_week=caps[1],
                cap_month=caps[2],
            )
        )
    return out
