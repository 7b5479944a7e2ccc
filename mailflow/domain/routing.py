"""Who gets the offer (PRODUCT.md §3), as pure functions of plain data.

Eligible: active, not on vacation, not flagged for bounces, serves the lead's postcode (prefixes
per country), not offered this lead before, and not busy: held leads plus open offers below
capacity, fewer open offers than the pending limit, and below the daily, weekly and monthly
caps (a monthly cap is paced: at most a share of it per day and per week). When the only
installers who could take the lead are busy, the lead waits (``waits``) instead of going to
the pool. Order: fewest offers in the last 30
days (per day the installer was available) relative to the tier's share (a higher tier gets
more leads: gold > silver > bronze), then tier, then longest since the last offer, then rating;
the installer id breaks remaining ties so the choice is deterministic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

TIER_RANK = {"gold": 3, "silver": 2, "bronze": 1}


@dataclass(frozen=True)
class Candidate:
    id: int
    email: str
    country: str
    postcodes: tuple[str, ...]
    tier: str = "bronze"
    active: bool = True
    vacation_from: datetime | None = None
    vacation_until: datetime | None = None
    bounced: bool = False
    capacity: int = 10
    open_leads: int = 0
    rating: float | None = None
    offers_30d: int = 0
    last_offer_at: datetime | None = None
    # Days of the last 30 the installer could receive offers (not on vacation): fairness
    # compares offers per available day, so a returning installer does not catch up on
    # the leads they missed while away.
    available_days: float = 30.0
    # Open offers waiting for the installer's answer, and how many they may hold at once.
    pending_offers: int = 0
    pending_limit: int | None = None
    # Leads offered in the installer's current day, week and month, and the caps in force
    # (after pacing; None = no cap).
    offers_day: int = 0
    offers_week: int = 0
    offers_month: int = 0
    cap_day: int | None = None
    cap_week: int | None = None
    cap_month: int | None = None

    @property
    def offer_rate(self) -> float:
        return self.offers_30d / max(self.available_days, 1.0)


@dataclass(frozen=True)
class Choice:
    installer: Candidate
    reason: str


def _compact(postcode: str) -> str:
    return re.sub(r"[\s\-]", "", postcode.upper())


def serving_prefix(candidate: Candidate, postcode: str, country: str) -> str | None:
    """The service-area prefix that covers the postcode, if any. A letters-only prefix (UK
    areas such as ``W`` or ``SW``) must match the postcode's whole letter area, so ``W`` does
    not cover ``WC1``."""
    return prefix_for(candidate.postcodes, candidate.country, postcode, country)


def prefix_for(
    prefixes: tuple[str, ...], own_country: str, postcode: str, country: str
) -> str | None:
    """:func:`serving_prefix` of an installer's prefixes and country."""
    if own_country.upper() != country.upper():
        return None
    return _covering(tuple(prefixes), postcode)


@lru_cache(maxsize=65536)
def _covering(prefixes: tuple[str, ...], postcode: str) -> str | None:
    # Routing asks the same (prefixes, postcode) many times per lead (ranking, waiting,
    # the decision's facts): a pure function, remembered.
    code = _compact(postcode)
    area = re.match(r"[A-Z]*", code).group(0)
    for prefix in prefixes:
        p = _compact(prefix)
        if not p:
            continue
        if p.isalpha():
            if area == p:
                return prefix
        elif code.startswith(p):
            return prefix
    return None


def available_days(
    vacation_from: datetime | None,
    vacation_until: datetime | None,
    now: datetime,
    window_days: int = 30,
) -> float:
    """Days of the last ``window_days`` not covered by the vacation."""
    start = now - timedelta(days=window_days)
    if vacation_from is None and vacation_until is None:
        return float(window_days)
    away_from = max(vacation_from or start, start)
    away_until = min(vacation_until or now, now)
    away = max((away_until - away_from).total_seconds() / 86400, 0.0)
    return max(window_days - away, 0.0)


def paced_caps(
    cap_day: int | None,
    cap_week: int | None,
    cap_month: int | None,
    *,
    day_percent: float = 10.0,
    week_percent: float = 30.0,
) -> tuple[int | None, int | None, int | None]:
    """The caps in force: an installer's own caps, and a monthly cap spread over the month so
    that it is not used up on its first day (at most ``day_percent`` of it per day and
    ``week_percent`` per week, rounded up, at least one)."""
    if cap_month is not None:
        paced_day = max(math.ceil(cap_month * day_percent / 100), 1)
        paced_week = max(math.ceil(cap_month * week_percent / 100), 1)
        cap_day = paced_day if cap_day is None else min(cap_day, paced_day)
        cap_week = paced_week if cap_week is None else min(cap_week, paced_week)
    return cap_day, cap_week, cap_month


def period_starts(now: datetime, timezone: str) -> tuple[datetime, datetime, datetime]:
    """Start of the installer's current day, week (Monday) and month, in their time zone."""
    try:
        tz = ZoneInfo(timezone or "UTC")
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    day = datetime.combine(local.date(), time(0), tzinfo=tz)
    week = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=tz)
    month = datetime.combine(local.date().replace(day=1), time(0), tzinfo=tz)
    return day, week, month


# Reasons that pass once the installer answers or a new day/week/month starts: a lead for
# which some installer is only busy waits for them instead of going to the pool.
BUSY = frozenset(
    {
        "at capacity",
        "too many open offers",
        "daily cap reached",
        "weekly cap reached",
        "monthly cap reached",
    }
)


def busy_reason(candidate: Candidate) -> str | None:
    if candidate.open_leads + candidate.pending_offers >= candidate.capacity:
        return "at capacity"
    if candidate.pending_limit is not None and candidate.pending_offers >= candidate.pending_limit:
        return "too many open offers"
    for used, cap, reason in (
        (candidate.offers_day, candidate.cap_day, "daily cap reached"),
        (candidate.offers_week, candidate.cap_week, "weekly cap reached"),
        (candidate.offers_month, candidate.cap_month, "monthly cap reached"),
    ):
        if cap is not None and used >= cap:
            return reason
    return None


def on_vacation(candidate: Candidate, now: datetime) -> bool:
    if candidate.vacation_from is None and candidate.vacation_until is None:
        return False
    starts = candidate.vacation_from is None or candidate.vacation_from <= now
    ends = candidate.vacation_until is None or now < candidate.vacation_until
    return starts and ends


def ineligibility(
    candidate: Candidate, *, postcode: str, country: str, offered: set[int], now: datetime
) -> str | None:
    """Why the candidate cannot get this lead now, or None if they can."""
    if not candidate.active:
        return "inactive"
    if candidate.bounced:
        return "email address bounces"
    if on_vacation(candidate, now):
        return "on vacation"
    if candidate.id in offered:
        return "already offered this lead"
    if serving_prefix(candidate, postcode, country) is None:
        return "does not serve this postcode"
    return busy_reason(candidate)


def waits(
    candidates: list[Candidate], *, postcode: str, country: str, offered: set[int], now: datetime
) -> bool:
    """True when nobody can take the lead now only because those who could are busy (open
    offers, capacity, caps): the lead waits for them rather than going to the pool."""
    return any(
        ineligibility(c, postcode=postcode, country=country, offered=offered, now=now) in BUSY
        for c in candidates
    )


DEFAULT_SHARES = {"gold": 3.0, "silver": 2.0, "bronze": 1.0}


def sort_key(candidate: Candidate, shares: dict[str, float] = DEFAULT_SHARES) -> tuple:
    """Weighted fairness first: offers per available day divided by the tier's share, so that
    over many leads gold gets 3 for silver's 2 and bronze's 1 (with the default shares) and
    nobody eligible starves; on equal footing the higher tier goes first, then the one who
    waited longest, then the better rated."""
    last = candidate.last_offer_at.timestamp() if candidate.last_offer_at else float("-inf")
    rating = -(candidate.rating if candidate.rating is not None else -1.0)
    share = shares.get(candidate.tier, 1.0)
    return (
        round(candidate.offer_rate / share, 9),
        -TIER_RANK.get(candidate.tier, 0),
        last,
        rating,
        candidate.id,
    )


def rank(
    candidates: list[Candidate],
    *,
    postcode: str,
    country: str,
    offered: set[int],
    now: datetime,
    shares: dict[str, float] = DEFAULT_SHARES,
) -> list[Candidate]:
    eligible = [
        c
        for c in candidates
        if ineligibility(c, postcode=postcode, country=country, offered=offered, now=now) is None
    ]
    return sorted(eligible, key=lambda c: sort_key(c, shares))


def choose(
    candidates: list[Candidate],
    *,
    postcode: str,
    country: str,
    offered: set[int],
    now: datetime,
    shares: dict[str, float] = DEFAULT_SHARES,
) -> Choice | None:
    ranked = rank(
        candidates, postcode=postcode, country=country, offered=offered, now=now, shares=shares
    )
    return choice_of(ranked, postcode=postcode, country=country)


def choice_of(ranked: list[Candidate], *, postcode: str, country: str) -> Choice | None:
    """The choice :func:`choose` makes from :func:`rank`'s list."""
    if not ranked:
        return None
    best = ranked[0]
    prefix = serving_prefix(best, postcode, country)
    reason = (
        f"{best.tier}, {best.offers_30d} offer{'s' if best.offers_30d != 1 else ''} "
        f"in 30 days, serves {prefix}"
    )
    if len(ranked) > 1:
        reason += f"; {len(ranked) - 1} other eligible"
    return Choice(best, reason)
