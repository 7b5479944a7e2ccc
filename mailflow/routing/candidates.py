"""The candidate installers of a lead, read as plain rows (#21): the columns the rules need,
never ORM objects, and every candidate's figures (recent offers, last offer, open offers,
held leads, the period's offers against the caps) in one statement for all of them, whatever
their number (one more per other time zone among those with caps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.db import is_postgres
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
        rows = session.execute(_OF_COUNTRIES, {"countries": list(countries)}).all()
    else:
        rows = session.execute(_ALL).all()
    return [InstallerRow(*row) for row in rows]


# Built once (#21): building a statement per lead costs more CPU than its round trip.
_ALL = select(*COLUMNS).order_by(Installer.id)
_OF_COUNTRIES = _ALL.where(Installer.country.in_(bindparam("countries", expanding=True)))


# Up to this many candidates their ids are sent with the statement; beyond, the statements
# select them by country (a subquery) and the figures of others are ignored.
LISTED = 500


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
    postgres = is_postgres(session)
    figures: dict[int, tuple] = {}
    held: dict[int, int] = {}
    for index, zone in enumerate(zones):
        first, who = index == 0, installers if index == 0 else capped[zone]
        countries = {i.country for i in who}
        listed = len(who) <= LISTED or len(countries) != 1
        if listed:
            ids = [i.id for i in who]
            params = {"ids": ids, "held_ids": ids}
        else:
            params = {"country": countries.pop()}
        lower = since if first else None
        if zone is not None:
            day, week, month = period_starts(now, zone)
            params |= {"day": day, "week": week, "month": month}
            lower = min(week, month) if lower is None else min(lower, week, month)
        params |= {"since": since, "lower": lower}
        statement = _figures_statement(postgres, first, zone is not None, listed)
        # .all(): one fetch for the rows (iterating fetches them one by one)
        for row in session.execute(statement, params).all():
            if first and row[-1] == 1:
                held[row[0]] = int(row[1])
                continue
            mine = figures.setdefault(row[0], [0, None, 0, {}])
            rest = row[1:-1]
            if first:
                mine[0], mine[1], mine[2] = int(rest[0] or 0), rest[1], int(rest[2] or 0)
                rest = rest[3:]
            if zone is not None:
                mine[3][zone] = tuple(int(n or 0) for n in rest)
    return figures, held


@cache
def _figures_statement(postgres: bool, first: bool, periods: bool, listed: bool):
    """``_figures``' statement of one shape, built once (#21): building it, its expanded id
    list and psycopg's parsing of the long text cost more CPU than its round trip. Bound:
    ``:lower`` (the earliest offer counted), ``:since`` (30 days) on the first statement,
    ``:day``/``:week``/``:month`` with ``periods``, and ``:ids``/``:held_ids`` (``listed``)
    or ``:country``. The first statement also has every installer's 30 days' figures, their
    open offers and, ``UNION ALL``, the leads they hold."""
    offered = Offer.offered_at
    columns = [Offer.installer_id]
    if first:
        columns += _recent(bindparam("since"))
    if periods:
        counted = and_(Offer.status != OfferStatus.WITHDRAWN, Offer.returned_at.is_(None))
        columns += [
            func.count().filter(and_(counted, offered >= bindparam(start)))
            for start in ("day", "week", "month")
        ]
    where = offered >= bindparam("lower")
    if first:
        where = or_(where, Offer.status == OfferStatus.OFFERED)
    statement = (
        select(*columns, _OFFERS)
        .where(_ids_clause(Offer.installer_id, "ids", postgres, listed), where)
        .group_by(Offer.installer_id)
    )
    if not first:
        return statement
    held_ids = _ids_clause(Lead.assigned_installer_id, "held_ids", postgres, listed)
    return union_all(statement, _held_counts(held_ids, len(columns) - 2))


def _ids_clause(column, name: str, postgres: bool, listed: bool):
    """``column`` among the listed installers (``:name``: one array parameter on PostgreSQL,
    whatever their number), or among those of ``:country``."""
    if not listed:
        return column.in_(select(Installer.id).where(Installer.country == bindparam("country")))
    if postgres:
        return column == any_(bindparam(name, type_=postgresql.ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


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
