"""The reports page: leads per day by source and by product, acceptance rate and median time to
accept per day, offers timed out per day, the funnel from offer to installed with quote
values, and the sampled pool / waiting line / outbox / queue depth."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.reports.common import (
    NOT_RECEIVED,
    RANK,
    LeadRow,
    OfferRow,
    ReportFilters,
    leads_in_range,
    median,
    minutes,
    offers_in_range,
    rate,
    status_history,
)
from mailflow.app.reports.samples import SampleSeries, sample_series
from mailflow.domain.statuses import LeadStatus, OfferStatus
from mailflow.models import Offer

NO_PRODUCT = "none"
# Offers an installer answered or let time out: what the acceptance rate divides by (claims
# from the exchange and offers withdrawn by the system are no answers).
DECIDED = (OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED)
FUNNEL = (
    ("received", None),
    ("offered", None),
    ("accepted", LeadStatus.ACCEPTED),
    ("contacted", LeadStatus.CONTACT_ATTEMPTED),
    ("quote_sent", LeadStatus.QUOTE_SENT),
    ("order_placed", LeadStatus.ORDER_PLACED),
    ("installed", LeadStatus.INSTALLED),
)


@dataclass(frozen=True)
class FunnelStage:
    key: str
    leads: int
    quoted_value: float  # the quotes of the leads that reached the stage, added up
    share: float | None  # percent of the leads received


@dataclass(frozen=True)
class Totals:
    leads: int
    offers: int
    accepted: int
    declined: int
    timed_out: int
    acceptance_rate: float | None  # percent of DECIDED offers
    median_accept_minutes: float | None


@dataclass
class Overview:
    filters: ReportFilters
    days: list[date]
    leads_by_source: dict[str, list[int]]
    leads_by_product: dict[str, list[int]]
    acceptance_rate: list[float | None]
    median_accept_minutes: list[float | None]
    timed_out: list[int]
    totals: Totals
    funnel: list[FunnelStage]
    samples: SampleSeries = field(default_factory=SampleSeries)


def _per_day(f: ReportFilters, rows, key) -> dict[str, list[int]]:
    days, day_of = f.days, f.day_of
    index = {day: n for n, day in enumerate(days)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in rows:
        series[key(row)][index[day_of(row.created_at)]] += 1
    return dict(sorted(series.items()))


def reached(lead: LeadRow, offered: set[int], steps: list[tuple]) -> set[str]:
    """The funnel stages a lead reached: its current status and every step recorded on it."""
    if lead.status in NOT_RECEIVED:
        return set()
    stages = {"received"}
    ranks = [RANK[s] for s in [lead.status.value, *(step[1] for step in steps)] if s in RANK]
    top = max(ranks, default=-1)
    if lead.accepted_at is not None:
        top = max(top, RANK[LeadStatus.ACCEPTED])
    if lead.id in offered or top >= 0:
        stages.add("offered")
    for key, status in FUNNEL:
        if status is not None and top >= RANK[status.value]:
            stages.add(key)
    return stages


def funnel(leads: list[LeadRow], offered: set[int], history: dict) -> list[FunnelStage]:
    """The leads of the range (whenever they were offered) at each stage they reached."""
    count: Counter[str] = Counter()
    value: Counter[str] = Counter()
    for lead in leads:
        for stage in reached(lead, offered, history.get(lead.id, [])):
            count[stage] += 1
            value[stage] += lead.quote
    received = count["received"]
    return [
        FunnelStage(key, count[key], round(value[key], 2), rate(count[key], received))
        for key, _ in FUNNEL
    ]


def offer_series(f: ReportFilters, offers: list[OfferRow]):
    days, day_of = f.days, f.day_of
    index = {day: n for n, day in enumerate(days)}
    decided = [[0] * len(days) for _ in range(2)]  # accepted, decided
    waits: list[list[float]] = [[] for _ in days]
    timed_out = [0] * len(days)
    for offer in offers:
        n = index[day_of(offer.offered_at)]
        if offer.status in DECIDED:
            decided[1][n] += 1
        if offer.status == OfferStatus.ACCEPTED:
            decided[0][n] += 1
            if offer.answered_at is not None:
                waits[n].append(minutes(offer.answered_at - offer.offered_at))
        if offer.status == OfferStatus.EXPIRED:
            timed_out[n] += 1
    rates = [rate(a, d) for a, d in zip(decided[0], decided[1], strict=True)]
    return rates, [median(w) for w in waits], timed_out


def totals(leads: list[LeadRow], offers: list[OfferRow]) -> Totals:
    by_status = Counter(offer.status for offer in offers)
    decided = sum(by_status[s] for s in DECIDED)
    waits = [
        minutes(o.answered_at - o.offered_at)
        for o in offers
        if o.status == OfferStatus.ACCEPTED and o.answered_at is not None
    ]
    return Totals(
        leads=len(leads),
        offers=sum(n for s, n in by_status.items() if s != OfferStatus.CLAIMED),
        accepted=by_status[OfferStatus.ACCEPTED],
        declined=by_status[OfferStatus.DECLINED],
        timed_out=by_status[OfferStatus.EXPIRED],
        acceptance_rate=rate(by_status[OfferStatus.ACCEPTED], decided),
        median_accept_minutes=median(waits),
    )


def overview(session: Session, f: ReportFilters) -> Overview:
    leads = leads_in_range(session, f)
    offers = offers_in_range(session, f)
    history = status_history(session, [lead.id for lead in leads])
    rates, waits, timed_out = offer_series(f, offers)
    return Overview(
        filters=f,
        days=f.days,
        leads_by_source=_per_day(f, leads, lambda lead: lead.source or "unknown"),
        leads_by_product=_per_day(f, leads, lambda lead: lead.product or NO_PRODUCT),
        acceptance_rate=rates,
        median_accept_minutes=waits,
        timed_out=timed_out,
        totals=totals(leads, offers),
        funnel=funnel(leads, offered_leads(session, leads), history),
        samples=sample_series(session, f),
    )


def offered_leads(session: Session, leads: list[LeadRow]) -> set[int]:
    """Which of these leads were ever offered (or claimed), whenever that was."""
    ids = [lead.id for lead in leads]
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(session.scalars(select(Offer.lead_id).where(Offer.lead_id.in_(chunk))))
    return found
