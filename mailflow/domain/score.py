"""An installer's score and tier, as a pure function of their recent history.

The score (0–100) weighs, over the last 12 months:

- **rating**: the average of the customers' survey marks (1–5), pulled towards a neutral prior
  (3.5 with the weight of 3 surveys) so that one review does not decide;
- **acceptance**: accepted offers / answered-or-expired offers (with a prior of 50 % over 4);
- **responsiveness**: the median time to answer an offer: 1 within 2 hours, falling to 0 at 24;
- **diligence**: the share of accepted leads on which progress was recorded;
- a penalty for each reservation that lapsed (no progress after the reminder).

Time to first contact (#20, ``mailflow.domain.speed``) is not part of the score: installers see
theirs on their score page, admins in the speed report (docs/admin.md, "The score and speed").

Weights and tier thresholds come from settings; the function also says what would raise the
score most, for the email that announces a tier change.

The tier follows the score (``decide_tier``) with three brakes, each explained to the installer
on their score page: too little history keeps the tier an admin imported (a newcomer is not
moved on priors alone), a margin below each threshold keeps the current tier (no flapping from
night to night), and a single customer rating never changes a tier on its own (the change must
hold without the latest rating too).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

RATING_PRIOR, RATING_PRIOR_WEIGHT = 3.5, 3
ACCEPT_PRIOR, ACCEPT_PRIOR_WEIGHT = 0.5, 4
FAST_HOURS, SLOW_HOURS = 2.0, 24.0
LAPSE_PENALTY = 5.0  # points per lapsed reservation, at most 20
TIERS = ("bronze", "silver", "gold")
# Below this much history the tier does not follow the score (priors alone decide nothing).
MIN_ANSWERED_OFFERS = 5
MIN_RATINGS = 3
# Points under a threshold an installer may fall before losing the tier.
TIER_MARGIN = 5.0


@dataclass(frozen=True)
class History:
    ratings: tuple[float, ...] = ()  # survey averages, 1–5
    offers_answered: int = 0  # accepted + declined + expired
    offers_accepted: int = 0
    answer_hours: tuple[float, ...] = ()  # time to answer each answered offer
    accepted_leads: int = 0
    leads_with_progress: int = 0
    lapsed: int = 0


@dataclass(frozen=True)
class Weights:
    rating: float = 0.45
    acceptance: float = 0.2
    responsiveness: float = 0.15
    diligence: float = 0.2


@dataclass(frozen=True)
class Thresholds:
    silver: float = 50.0
    gold: float = 75.0


@dataclass(frozen=True)
class Score:
    score: float
    tier: str
    parts: dict[str, float] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)


def rating_part(ratings: tuple[float, ...]) -> float:
    mean = (RATING_PRIOR * RATING_PRIOR_WEIGHT + sum(ratings)) / (
        RATING_PRIOR_WEIGHT + len(ratings)
    )
    return (mean - 1) / 4


def acceptance_part(answered: int, accepted: int) -> float:
    accepted = min(accepted, answered)
    return (ACCEPT_PRIOR * ACCEPT_PRIOR_WEIGHT + accepted) / (ACCEPT_PRIOR_WEIGHT + answered)


def responsiveness_part(hours: tuple[float, ...]) -> float:
    if not hours:
        return 0.5
    median = statistics.median(hours)
    if median <= FAST_HOURS:
        return 1.0
    if median >= SLOW_HOURS:
        return 0.0
    return 1 - (median - FAST_HOURS) / (SLOW_HOURS - FAST_HOURS)


def diligence_part(accepted: int, with_progress: int) -> float:
    with_progress = min(with_progress, accepted)
    return (with_progress + 1) / (accepted + 2)  # Laplace: unknown is 50 %


def tier_for(score: float, thresholds: Thresholds) -> str:
    if score >= thresholds.gold:
        return "gold"
    if score >= thresholds.silver:
        return "silver"
    return "bronze"


def compute(
    history: History, weights: Weights = Weights(), thresholds: Thresholds = Thresholds()
) -> Score:
    parts = {
        "rating": rating_part(history.ratings),
        "acceptance": acceptance_part(history.offers_answered, history.offers_accepted),
        "responsiveness": responsiveness_part(history.answer_hours),
        "diligence": diligence_part(history.accepted_leads, history.leads_with_progress),
    }
    total_weight = weights.rating + weights.acceptance + weights.responsiveness + weights.diligence
    weighted = (
        parts["rating"] * weights.rating
        + parts["acceptance"] * weights.acceptance
        + parts["responsiveness"] * weights.responsiveness
        + parts["diligence"] * weights.diligence
    ) / total_weight
    score = max(0.0, 100 * weighted - min(LAPSE_PENALTY * history.lapsed, 20.0))
    score = round(score, 1)
    # What would help most: the parts with the most room to grow, by weight.
    room = sorted(((1 - parts[k]) * getattr(weights, k), k) for k in parts)
    advice = [k for gain, k in reversed(room) if gain > 0.02][:2]
    if history.lapsed:
        advice.insert(0, "lapsed")
    return Score(
        score, tier_for(score, thresholds), {k: round(v, 3) for k, v in parts.items()}, advice
    )


def enough_history(history: History) -> bool:
    return history.offers_answered >= MIN_ANSWERED_OFFERS or len(history.ratings) >= MIN_RATINGS


@dataclass(frozen=True)
class TierDecision:
    """The tier the installer should have, and why (shown on their score page):
    ``pinned`` (an admin set it), ``little_history`` (kept until there is enough),
    ``margin`` (under the threshold but within the margin), ``one_rating`` (the latest rating
    alone would change it: not yet), ``score`` (the score decides)."""

    tier: str
    why: str
    score: float


def _follow(
    current: str, history: History, weights: Weights, thresholds: Thresholds, margin: float
) -> str:
    """The tier the history leads to, before the single-rating brake."""
    if not enough_history(history):
        return current
    score = compute(history, weights, thresholds).score
    target = tier_for(score, thresholds)
    if TIERS.index(target) >= TIERS.index(current):
        return target  # promotion at the threshold itself
    # Demotion only below the margin, and then to where the score plus the margin lands.
    return min(current, tier_for(score + margin, thresholds), key=TIERS.index)


def _step(current: str, tier: str) -> int:
    return TIERS.index(tier) - TIERS.index(current)


def decide_tier(
    current: str,
    history: History,
    weights: Weights = Weights(),
    thresholds: Thresholds = Thresholds(),
    *,
    pinned: bool = False,
    margin: float = TIER_MARGIN,
) -> TierDecision:
    """The tier ``current`` becomes from ``history`` (its ratings in the order received)."""
    score = compute(history, weights, thresholds).score
    if pinned:
        return TierDecision(current, "pinned", score)
    if not enough_history(history):
        return TierDecision(current, "little_history", score)
    target = _follow(current, history, weights, thresholds, margin)
    if target != current and history.ratings:
        before = History(**{**history.__dict__, "ratings": history.ratings[:-1]})
        without_latest = _follow(current, before, weights, thresholds, margin)
        if _step(current, without_latest) * _step(current, target) <= 0:
            return TierDecision(current, "one_rating", score)
        # Both point the same way: go no further than both do.
        target = min(target, without_latest, key=lambda tier: abs(_step(current, tier)))
    if target == current and tier_for(score, thresholds) != current:
        return TierDecision(current, "margin", score)
    return TierDecision(target, "score", score)
