"""Speed-to-lead figures (#20): median and 90th percentile of the time from a lead's arrival
to its acceptance and to the holder's first contact (pure: rows in, figures out).

A lead's first contact is the first status its holder recorded, or the moment they revealed
the customer's details if that came first (``Lead.first_contact_at``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SpeedRow:
    arrived_at: datetime
    accepted_at: datetime | None = None
    first_contact_at: datetime | None = None


@dataclass(frozen=True)
class Spread:
    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class SpeedFigures:
    to_acceptance: Spread
    to_first_contact: Spread


def percentile(values: list[timedelta], fraction: float) -> timedelta | None:
    """Nearest-rank percentile (the smallest value with at least ``fraction`` of the values at
    or below it); the median of an even count is the mean of the two middle values."""
    if not values:
        return None
    ordered = sorted(values)
    if fraction == 0.5:
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def spread(values: Iterable[timedelta]) -> Spread:
    values = [v for v in values if v >= timedelta()]
    return Spread(len(values), percentile(values, 0.5), percentile(values, 0.9))


def speed_figures(rows: Iterable[SpeedRow]) -> SpeedFigures:
    rows = list(rows)
    return SpeedFigures(
        to_acceptance=spread(r.accepted_at - r.arrived_at for r in rows if r.accepted_at),
        to_first_contact=spread(
            r.first_contact_at - r.arrived_at for r in rows if r.first_contact_at
        ),
    )
