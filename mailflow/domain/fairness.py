"""Fairness check (#20): leads offered to each installer against their share of the weights.

Each recorded routing decision that made one offer (``offered`` or ``second_chance``) gave the
lead to one of the installers eligible at that moment; under the tier weights
(``MAILFLOW_TIER_SHARE_WEIGHTS``) each eligible installer's fair chance of it is their weight
over the eligible installers' total. Summed over the decisions of a period, that is the number
of offers each installer could expect; the check compares it with the offers they got.

A difference is flagged only when it is unlikely to be chance: at least ``MIN_GAP`` offers and
``Z_LIMIT`` standard deviations (the decisions are independent draws with those chances:
the variance is the sum of p(1 − p)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The verdicts of a candidate that was eligible (chosen, or ranked below the chosen one).
ELIGIBLE_REASONS = frozenset(
    {
        "only_eligible",
        "fewest_offers",
        "higher_tier",
        "waited_longest",
        "better_rating",
        "tie_break",
        "second_chance",
        "more_offers",
        "lower_tier",
        "waited_less",
        "lower_rating",
    }
)
COUNTED_KINDS = frozenset({"offered", "second_chance"})
MIN_GAP = 2.0
Z_LIMIT = 2.0
FAIR, MORE, LESS = "fair", "more", "less"


@dataclass(frozen=True)
class Decision:
    kind: str
    chosen: int | None  # the installer offered the lead
    candidates: Sequence[Mapping[str, Any]]  # as recorded: installer_id, outcome, reason, facts


@dataclass(frozen=True)
class Share:
    installer_id: int
    decisions: int  # decisions in which they were eligible
    offered: int
    expected: float
    variance: float

    @property
    def gap(self) -> float:
        return self.offered - self.expected

    @property
    def ratio(self) -> float | None:
        return self.offered / self.expected if self.expected else None

    @property
    def verdict(self) -> str:
        spread = math.sqrt(self.variance)
        if abs(self.gap) < MIN_GAP or abs(self.gap) < Z_LIMIT * spread:
            return FAIR
        return MORE if self.gap > 0 else LESS


def eligible(decision: Decision) -> list[tuple[int, str]]:
    """The installers eligible in the decision, with the tier they had then."""
    return [
        (c["installer_id"], (c.get("facts") or {}).get("tier") or "")
        for c in decision.candidates
        if c.get("outcome") == "chosen" or c.get("reason") in ELIGIBLE_REASONS
    ]


def shares(decisions: Iterable[Decision], weights: Mapping[str, float]) -> list[Share]:
    """Each installer eligible at least once: offers got against offers expected, most
    favoured first."""
    count: dict[int, int] = {}
    offered: dict[int, int] = {}
    expected: dict[int, float] = {}
    variance: dict[int, float] = {}
    for decision in decisions:
        if decision.kind not in COUNTED_KINDS or decision.chosen is None:
            continue
        pool = eligible(decision)
        total = sum(weights.get(tier, 1.0) for _, tier in pool)
        if not pool or not total:
            continue
        for installer_id, tier in pool:
            p = weights.get(tier, 1.0) / total
            count[installer_id] = count.get(installer_id, 0) + 1
            expected[installer_id] = expected.get(installer_id, 0.0) + p
            variance[installer_id] = variance.get(installer_id, 0.0) + p * (1 - p)
        offered[decision.chosen] = offered.get(decision.chosen, 0) + 1
    rows = [Share(i, count[i], offered.get(i, 0), expected[i], variance[i]) for i in sorted(count)]
    return sorted(rows, key=lambda r: (-r.gap, r.installer_id))
