"""The lead lists of the admin console and the JSON API: filters, full-text search, sorting,
pagination, kanban columns and the pipeline summary.

Every list is an index range with a LIMIT (see the indexes at the end of ``models.py``); the
only counts are bounded (``COUNT`` over at most ``COUNT_CAP`` rows) or index-only
(``GROUP BY status``). ``bench/admin.py`` measures them with 100,000 leads.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, joinedload

from mailflow.db import is_postgres, session_scope
from mailflow.domain.intake.schema import BuildingType, Product, Source
from mailflow.domain.statuses import STATUS_GROUPS
from mailflow.leads import search
from mailflow.models import (
    HELD_STATUSES,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.web.admin import story

COUNT_CAP = 1_000
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE = 10_000
KANBAN_CARDS = 12

# The pipeline's order (kanban columns, status filters): its four stages, in order.
PIPELINE = [status for group in STATUS_GROUPS.values() for status in group]
STATUSES = [s.value for s in PIPELINE]
SOURCES = [s.value for s in Source]
PRODUCTS = [p.value for p in Product]
BUILDING_TYPES = [b.value for b in BuildingType]

# Sortable columns: name → the ORDER BY (each backed by an index; ``id`` breaks ties).
SORTS: dict[str, tuple] = {
    "created": (Lead.created_at,),
    "updated": (Lead.updated_at,),
    "id": (),
    "name": (Lead.customer_name,),
    "city": (Lead.city,),
    "postcode": (Lead.postcode,),
    "status": (Lead.status, Lead.created_at),
}
DEFAULT_SORT = "-created"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


# Columns of the table view (the column chooser picks among them; labels translated where
# shown).
COLUMNS = {
    "id": "#",
    "name": N_("Customer"),
    "contact": N_("Email / phone"),
    "location": N_("Postcode / city"),
    "country": N_("Country"),
    "product": N_("Product"),
    "building": N_("Building"),
    "grid": N_("Grid"),
    "status": N_("Status"),
    "source": N_("Source"),
    "installer": N_("Installer"),
    "external_id": N_("External id"),
    "created": N_("Created"),
    "updated": N_("Updated"),
}
DEFAULT_COLUMNS = ["id", "name", "location", "product", "status", "source", "installer", "created"]


def _text(value: Any, limit: int = 200) -> str:
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c >= " " or c == "\t").strip()[:limit]


def _date(value: Any) -> date | None:
    text = _text(value, 40)
    if not text:
        return None
    return date.fromisoformat(text)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass
class LeadFilters:
    q: str = ""
    status: str = ""
    source: str = ""
    product: str = ""
    postcode: str = ""
    country: str = ""
    installer: str = ""  # an installer id, or "none" for unassigned leads
    created_from: date | None = None
    created_to: date | None = None
    updated_from: date | None = None
    updated_to: date | None = None
    duplicate: str = ""  # "" | "yes" | "no"
    archived: str = "no"  # "no" | "yes" | "all"
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> LeadFilters:
        """From query parameters; a bad value is dropped and named in ``errors``."""
        f = cls()
        for name in ("q", "source", "postcode", "country", "installer"):
            setattr(f, name, _text(params.get(name)))
        status = _text(params.get("status"))
        if status and status not in STATUSES:
            f.errors["status"] = f"unknown status {status!r}"
        else:
            f.status = status
        product = _text(params.get("product"))
        if product and product not in (*PRODUCTS, "none"):
            f.errors["product"] = f"unknown product {product!r}"
        else:
            f.product = product
        f.postcode = f.postcode.upper().replace(" ", "")[:16] if f.postcode else ""
        f.country = f.country.upper()[:2] if f.country else ""
        if f.installer and f.installer != "none" and not f.installer.isdigit():
            f.errors["installer"] = "unknown installer"
            f.installer = ""
        for name in ("created_from", "created_to", "updated_from", "updated_to"):
            try:
                setattr(f, name, _date(params.get(name)))
            except ValueError:
                f.errors[name] = "not a date (YYYY-MM-DD)"
        duplicate = _text(params.get("duplicate"))
        f.duplicate = duplicate if duplicate in ("yes", "no") else ""
        archived = _text(params.get("archived"))
        f.archived = archived if archived in ("no", "yes", "all") else "no"
        return f

    def params(self, **overrides: Any) -> dict[str, str]:
        """The filters as query parameters (defaults left out)."""
        f = replace(self, **overrides) if overrides else self
        out: dict[str, str] = {}
        for fd in fields(f):
            if fd.name == "errors":
                continue
            value = getattr(f, fd.name)
            if value in (None, "") or (fd.name == "archived" and value == "no"):
                continue
            out[fd.name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    @property
    def active(self) -> bool:
        return bool(self.params())

    def conditions(self, session: Session, default_country: str | None = None) -> list:
        conds: list = []
        if self.q:
            conds += search.matching_ids(self.q, default_country)
        if self.status:
            conds.append(Lead.status == LeadStatus(self.status))
        if self.source:
            conds.append(Lead.source == self.source)
        if self.product == "none":
            conds.append(Lead.product.is_(None))
        elif self.product:
            conds.append(Lead.product == self.product)
        if self.postcode:
            conds.append(postcode_prefix(session, self.postcode))
        if self.country:
            conds.append(Lead.country == self.country)
        if self.installer == "none":
            conds.append(Lead.assigned_installer_id.is_(None))
        elif self.installer:
            conds.append(Lead.assigned_installer_id == int(self.installer[:12]))
        if self.created_from:
            conds.append(Lead.created_at >= day_start(self.created_from))
        if self.created_to:
            conds.append(Lead.created_at < day_start(self.created_to) + timedelta(days=1))
        if self.updated_from:
            conds.append(Lead.updated_at >= day_start(self.updated_from))
        if self.updated_to:
            conds.append(Lead.updated_at < day_start(self.updated_to) + timedelta(days=1))
        if self.duplicate == "yes":
            conds.append(Lead.duplicate_of_id.is_not(None))
        elif self.duplicate == "no":
            conds.append(Lead.duplicate_of_id.is_(None))
        if self.archived == "no":
            conds.append(Lead.archived_at.is_(None))
        elif self.archived == "yes":
            conds.append(Lead.archived_at.is_not(None))
        return conds


def postcode_prefix(session: Session, prefix: str):
    """Postcodes starting with ``prefix``: a LIKE everywhere, plus the equivalent index range
    on SQLite (whose LIKE is case-insensitive and so cannot use the index by itself)."""
    like = Lead.postcode.startswith(prefix, autoescape=True)
    if is_postgres(session):
        return like
    return and_(Lead.postcode >= prefix, Lead.postcode < prefix + "\U0010ffff", like)


def parse_sort(value: Any) -> str:
    text = _text(value, 20) or DEFAULT_SORT
    return text if text.lstrip("-") in SORTS else DEFAULT_SORT


def order_by(sort: str) -> list:
    descending = sort.startswith("-")
    columns = [*SORTS[sort.lstrip("-")], Lead.id]
    return [c.desc() if descending else c.asc() for c in columns]


def parse_columns(values: list[str]) -> list[str]:
    chosen = [c for c in values if c in COLUMNS]
    return list(dict.fromkeys(chosen)) or list(DEFAULT_COLUMNS)


def parse_page(value: Any) -> int:
    try:
        return min(max(int(_text(value, 8) or 1), 1), MAX_PAGE)
    except ValueError:
        return 1


def parse_per(value: Any) -> int:
    try:
        per = int(_text(value, 4) or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return per if per in PAGE_SIZES else DEFAULT_PAGE_SIZE


@dataclass
class Page:
    rows: list[Lead]
    page: int
    per: int
    has_next: bool
    total: int  # capped at COUNT_CAP + 1
    capped: bool

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per + len(self.rows)


def count_capped(session: Session, conds: list, cap: int = COUNT_CAP) -> tuple[int, bool]:
    inner = select(Lead.id).where(*conds).limit(cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(inner)) or 0
    return min(total, cap), total > cap


def lead_page(
    session: Session,
    filters: LeadFilters,
    *,
    sort: str = DEFAULT_SORT,
    page: int = 1,
    per: int = DEFAULT_PAGE_SIZE,
    default_country: str | None = None,
    count: bool = True,
) -> Page:
    conds = filters.conditions(session, default_country)
    rows = list(
        session.scalars(
            select(Lead)
            .where(*conds)
            .options(joinedload(Lead.assigned_installer))
            .order_by(*order_by(sort))
            .limit(per + 1)
            .offset((page - 1) * per)
        )
    )
    total, capped = count_capped(session, conds) if count else (0, False)
    return Page(rows[:per], page, per, len(rows) > per, total, capped)


def iter_leads(settings, filters: LeadFilters, *, sort: str, chunk: int = 500) -> Iterator[Lead]:
    """Every lead matching the filters (for exports), in order, read in short transactions (a
    long read would hold SQLite's lock and make intake wait)."""

    with session_scope(settings) as session:
        conds = filters.conditions(session, settings.default_country)
        ids = list(session.scalars(select(Lead.id).where(*conds).order_by(*order_by(sort))))
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with session_scope(settings) as session:
            found = {
                lead.id: lead
                for lead in session.scalars(
                    select(Lead)
                    .where(Lead.id.in_(part))
                    .options(joinedload(Lead.assigned_installer))
                )
            }
        yield from (found[i] for i in part if i in found)


# ------------------------------------------------------------------ kanban ------------------
@dataclass
class Column:
    status: str
    count: int
    cards: list[Lead]


@dataclass
class Group:
    """A stage of the pipeline (open, in progress, won, lost) and its columns."""

    name: str
    columns: list[Column]

    @property
    def count(self) -> int:
        return sum(column.count for column in self.columns)


def kanban_groups(columns: list[Column]) -> list[Group]:
    by_status = {column.status: column for column in columns}
    groups = [
        Group(name, [by_status[s.value] for s in statuses if s.value in by_status])
        for name, statuses in STATUS_GROUPS.items()
    ]
    return [group for group in groups if group.columns]


def status_counts(session: Session, conds: list) -> dict[str, int]:
    return {
        status.value: count
        for status, count in session.execute(
            select(Lead.status, func.count()).where(*conds).group_by(Lead.status)
        )
    }


def filtered_status_counts(
    session: Session, filters: LeadFilters, default_country: str | None = None
) -> dict[str, int]:
    """Leads per status under the filters. Without other filters, unarchived leads are counted
    as all leads minus the archived ones: both are index-only or tiny (a partial index holds
    the archived leads), where "archived_at IS NULL" would read every row."""
    if filters.archived != "no" or replace(filters, archived="all").params() != {"archived": "all"}:
        # Other filters read their rows anyway: one pass.
        return status_counts(session, filters.conditions(session, default_country))
    conds = replace(filters, archived="all").conditions(session, default_country)
    counts = status_counts(session, conds)
    for status, archived in status_counts(session, [*conds, Lead.archived_at.is_not(None)]).items():
        counts[status] = counts.get(status, 0) - archived
    return counts


def kanban(
    session: Session,
    filters: LeadFilters,
    *,
    default_country: str | None = None,
    cards: int = KANBAN_CARDS,
) -> list[Column]:
    conds = filters.conditions(session, default_country)
    counts = filtered_status_counts(session, filters, default_country)
    columns = []
    for status in PIPELINE:
        if filters.status and filters.status != status.value:
            continue
        count = counts.get(status.value, 0)
        rows: list[Lead] = []
        if count:
            rows = list(
                session.scalars(
                    select(Lead)
                    .where(*conds, Lead.status == status)
                    .options(joinedload(Lead.assigned_installer))
                    .order_by(Lead.created_at.desc(), Lead.id.desc())
                    .limit(cards)
                )
            )
        columns.append(Column(status.value, count, rows))
    return columns


# ------------------------------------------------------------------ pipeline ----------------
@dataclass
class OfferAge:
    label: str
    count: int


@dataclass
class Pipeline:
    by_status: list[tuple[str, int]]
    total: int
    offers_waiting: int
    oldest_offer: datetime | None
    offer_ages: list[OfferAge]
    overdue_offers: int
    pool: int
    oldest_pool: datetime | None
    week_start: datetime
    created_this_week: int
    accepted_this_week: int
    declined_this_week: int
    expired_this_week: int
    median_accept_seconds: float | None
    waiting_offers: list[Offer]
    pool_leads: list[Lead]

    @property
    def answered_this_week(self) -> int:
        return self.accepted_this_week + self.declined_this_week + self.expired_this_week

    @property
    def accept_rate(self) -> float | None:
        answered = self.answered_this_week
        return self.accepted_this_week / answered if answered else None


AGE_BUCKETS = [
    ("under 4 h", timedelta(hours=4)),
    ("4–12 h", timedelta(hours=12)),
    ("12–24 h", timedelta(hours=24)),
    ("1–3 days", timedelta(days=3)),
    ("over 3 days", None),
]


def week_start(at: datetime, zone: tzinfo = UTC) -> datetime:
    """Monday 00:00 of the week of ``at`` in ``zone`` (the admin time zone, as the reports
    count days), as a UTC instant."""
    local = at.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone).astimezone(UTC)


def _count(session: Session, *conds) -> int:
    return session.scalar(select(func.count()).select_from(Offer).where(*conds)) or 0


def pipeline(session: Session, at: datetime, zone: tzinfo = UTC) -> Pipeline:
    counts = status_counts(session, [])
    by_status = [(s, counts.get(s, 0)) for s in STATUSES]
    open_offer = Offer.status == OfferStatus.OFFERED
    waiting_count, oldest_offer = session.execute(
        select(func.count(), func.min(Offer.offered_at)).where(open_offer)
    ).one()
    buckets = []
    lower = timedelta(0)
    for label, upper in AGE_BUCKETS:  # index ranges of (status, offered_at)
        conds = [open_offer, Offer.offered_at <= at - lower]
        if upper is not None:
            conds.append(Offer.offered_at > at - upper)
        buckets.append(OfferAge(label, _count(session, *conds)))
        lower = upper or lower
    overdue = _count(session, open_offer, Offer.deadline <= at)
    pool_ids = Lead.status == LeadStatus.POOL
    pool = counts.get(LeadStatus.POOL.value, 0)
    oldest_pool = session.scalar(select(func.min(Lead.created_at)).where(pool_ids))
    start = week_start(at, zone)
    accepted = list(
        session.execute(
            select(Offer.offered_at, Offer.answered_at).where(
                Offer.status == OfferStatus.ACCEPTED, Offer.answered_at >= start
            )
        )
    )
    declined = _count(session, Offer.status == OfferStatus.DECLINED, Offer.answered_at >= start)
    expired = _count(
        session,
        Offer.status == OfferStatus.EXPIRED,
        Offer.deadline >= start,
        Offer.deadline <= at,
    )
    durations = [(answered - offered).total_seconds() for offered, answered in accepted]
    created = (
        session.scalar(select(func.count()).select_from(Lead).where(Lead.created_at >= start)) or 0
    )
    waiting = list(
        session.scalars(
            select(Offer)
            .where(open_offer)
            .options(joinedload(Offer.installer), joinedload(Offer.lead))
            .order_by(Offer.offered_at)
            .limit(10)
        )
    )
    pool_leads = list(
        session.scalars(select(Lead).where(pool_ids).order_by(Lead.created_at).limit(10))
    )
    return Pipeline(
        by_status=by_status,
        total=sum(counts.values()),
        offers_waiting=waiting_count,
        oldest_offer=oldest_offer,
        offer_ages=buckets,
        overdue_offers=overdue,
        pool=pool,
        oldest_pool=oldest_pool,
        week_start=start,
        created_this_week=created,
        accepted_this_week=len(accepted),
        declined_this_week=declined,
        expired_this_week=expired,
        median_accept_seconds=statistics.median(durations) if durations else None,
        waiting_offers=waiting,
        pool_leads=pool_leads,
    )


# ------------------------------------------------------------------ installers --------------
def open_leads_by_installer(session: Session, ids: list[int] | None = None) -> dict[int, int]:
    query = (
        select(Lead.assigned_installer_id, func.count())
        .where(Lead.status.in_(HELD_STATUSES), Lead.assigned_installer_id.is_not(None))
        .group_by(Lead.assigned_installer_id)
    )
    if ids is not None:
        query = query.where(Lead.assigned_installer_id.in_(ids))
    return dict(session.execute(query).all())


def installer_choices(session: Session) -> list[tuple[int, str, str, bool]]:
    """(id, email, name, active) of every installer, for the select lists."""
    return [
        tuple(row)
        for row in session.execute(
            select(Installer.id, Installer.email, Installer.name, Installer.active).order_by(
                Installer.email
            )
        )
    ]


# ------------------------------------------------------------------ lead page ---------------
def installers_named(session: Session, events: list) -> dict[Any, story.Installer]:
    """The installers a lead's events name (by email or id), keyed by lower-case email and by
    id, for the timeline's sentences."""
    emails, ids = set(), set()
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        for key in ("installer", "previous_installer"):
            if isinstance(data.get(key), str):
                emails.add(data[key].strip().lower())
        if isinstance(data.get("installer_id"), int):
            ids.add(data["installer_id"])
    if not emails and not ids:
        return {}
    rows = session.execute(
        select(
            Installer.id, Installer.email, Installer.company, Installer.name, Installer.tier
        ).where(func.lower(Installer.email).in_(emails) | Installer.id.in_(ids))
    )
    found: dict[Any, story.Installer] = {}
    for ident, email, company, name, tier in rows:
        # The company, as the network knows its installers ("Soleil Paris SARL").
        who = story.Installer(name=company or name or email, email=email, tier=str(tier or ""))
        found[ident] = found[email.strip().lower()] = who
    return found


def url_with(path: str, params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(clean, doseq=True) if clean else "")
