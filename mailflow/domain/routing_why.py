"""Why an installer got a lead, and why the others did not (#20), as pure functions.

:func:`explain` goes through the same rules as :func:`mailflow.domain.routing.choose` and says,
for each candidate, whether they were chosen or passed over, and why, as a stable reason code
(the words are translated where they are shown: ``REASON_TEXTS``), with the figures the rules
looked at (``facts``). What is stored is bounded: at most ``KEEP`` candidates, the rest counted
per reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailflow.domain.routing import (
    DEFAULT_SHARES,
    Candidate,
    ineligibility,
    rank,
    serving_prefix,
    sort_key,
)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


CHOSEN, PASSED = "chosen", "passed"

# ineligibility()'s words -> stable codes.
INELIGIBLE = {
    "inactive": "inactive",
    "email address bounces": "bounced",
    "on vacation": "vacation",
    "already offered this lead": "already_offered",
    "does not serve this postcode": "out_of_area",
    "at capacity": "at_capacity",
    "too many open offers": "pending_limit",
    "daily cap reached": "cap_day",
    "weekly cap reached": "cap_week",
    "monthly cap reached": "cap_month",
}
# A lead offered before: what became of that offer refines "already offered".
PREVIOUS = {"declined": "declined", "expired": "expired", "withdrawn": "withdrawn"}
# The first part of the ranking (sort_key) where two eligible installers differ.
RANKED_LOWER = ("more_offers", "lower_tier", "waited_less", "lower_rating", "tie_break")
CHOSEN_BY = ("fewest_offers", "higher_tier", "waited_longest", "better_rating", "tie_break")

REASON_TEXTS = {
    # chosen
    "only_eligible": N_("the only eligible installer"),
    "fewest_offers": N_("fewest leads offered lately for their tier"),
    "higher_tier": N_("as many leads as others lately, higher tier"),
    "waited_longest": N_("waited longest since their last offer"),
    "better_rating": N_("better rating among equals"),
    "tie_break": N_("equal on every rule: first by registration"),
    "second_chance": N_("second chance: asked to be offered the lead again"),
    "escalated": N_("lead escalated: offered to every eligible installer at once"),
    # passed over
    "more_offers": N_("more leads offered lately for their tier"),
    "lower_tier": N_("same number of leads, lower tier"),
    "waited_less": N_("had an offer more recently"),
    "lower_rating": N_("lower rating"),
    "inactive": N_("inactive"),
    "bounced": N_("email address bounces"),
    "vacation": N_("on vacation"),
    "already_offered": N_("already offered this lead"),
    "declined": N_("already declined this lead"),
    "expired": N_("let an earlier offer of this lead expire"),
    "withdrawn": N_("an earlier offer of this lead was withdrawn"),
    "out_of_area": N_("does not serve this postcode"),
    "at_capacity": N_("at capacity (open leads and offers)"),
    "pending_limit": N_("too many offers waiting for an answer"),
    "cap_day": N_("daily cap reached"),
    "cap_week": N_("weekly cap reached"),
    "cap_month": N_("monthly cap reached"),
    "busy": N_("being offered another lead at that very moment"),
}

# The installer's one line: "Why you: ..." (tier, the prefix that covers the lead's postcode).
WHY_YOU = {
    "only_eligible": N_("you are the only %(tier)s installer available for %(area)s."),
    "fewest_offers": N_(
        "you are the %(tier)s installer for %(area)s with the fewest leads offered lately."
    ),
    "higher_tier": N_("you are the highest-tier installer for %(area)s among equals."),
    "waited_longest": N_(
        "you are the installer for %(area)s who waited longest since their last lead."
    ),
    "better_rating": N_("you are the best-rated installer for %(area)s among equals."),
    "tie_break": N_("you are next in line for %(area)s."),
    "second_chance": N_("you asked to be offered this lead again for %(area)s."),
    "escalated": N_(
        "nobody answered in time: this lead for %(area)s is offered to every available installer."
    ),
}
# Tiers as words inside a sentence ("you are the gold installer ..."; German keeps its capital).
TIER_WORDS = {"gold": N_("gold"), "silver": N_("silver"), "bronze": N_("bronze")}

KEEP = 50


@dataclass(frozen=True)
class Verdict:
    installer_id: int
    outcome: str  # CHOSEN or PASSED
    reason: str  # a key of REASON_TEXTS
    facts: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "installer_id": self.installer_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class Explanation:
    chosen: tuple[Candidate, ...]
    verdicts: tuple[Verdict, ...]  # the chosen first, then by rank, then the ineligible

    @property
    def reason(self) -> str | None:
        """The chosen installer's reason code (the first chosen)."""
        return self.verdicts[0].reason if self.chosen else None

    def bounded(self, keep: int = KEEP) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """At most ``keep`` verdicts as stored, and the rest counted per reason."""
        rest = Counter(v.reason for v in self.verdicts[keep:])
        return [v.as_dict() for v in self.verdicts[:keep]], dict(sorted(rest.items()))


def facts_of(candidate: Candidate, postcode: str, country: str) -> dict[str, Any]:
    """What the rules looked at, as stored (JSON: plain values)."""
    caps = {
        f"{name}": f"{used}/{cap}"
        for name, used, cap in (
            ("day", candidate.offers_day, candidate.cap_day),
            ("week", candidate.offers_week, candidate.cap_week),
            ("month", candidate.offers_month, candidate.cap_month),
        )
        if cap is not None
    }
    facts: dict[str, Any] = {
        "tier": candidate.tier,
        "area": serving_prefix(candidate, postcode, country),
        "open_leads": candidate.open_leads,
        "open_offers": candidate.pending_offers,
        "capacity": candidate.capacity,
        "offers_30d": candidate.offers_30d,
        "available_days": round(candidate.available_days, 1),
        "rating": candidate.rating,
        "last_offer_at": candidate.last_offer_at.isoformat() if candidate.last_offer_at else None,
    }
    if caps:
        facts["caps"] = caps
    return facts


def _first_difference(a: tuple, b: tuple) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            return index
    return len(a) - 1


def explain(
    candidates: list[Candidate],
    *,
    postcode: str,
    country: str,
    offered: set[int],
    now: datetime,
    shares: dict[str, float] = DEFAULT_SHARES,
    previous: Mapping[int, str] | None = None,
    escalated: bool = False,
    second_chance: bool = False,
    busy: frozenset[int] = frozenset(),
    facts_for: int | None = None,
    ranked: list[Candidate] | None = None,
) -> Explanation:
    """Each candidate's verdict under the rules of ``choose`` (``rank``'s first is chosen; when
    ``escalated``, every eligible one is). ``previous``: the status of each installer's last
    offer of this lead (declined, expired, ...), to say more than "already offered".
    ``facts_for``: only the first so many verdicts get their facts (what is stored: the rest
    is only counted per reason), so that thousands of candidates cost little. ``ranked``:
    :func:`rank` of the same candidates under the same terms, when the caller has it."""
    previous = previous or {}
    where = {"postcode": postcode, "country": country}
    # ``busy``: eligible, but another worker was offering them a lead at that very moment.
    if ranked is None:
        ranked = rank(candidates, **where, offered=offered, now=now, shares=shares)
    ranked = [c for c in ranked if c.id not in busy]
    verdicts: list[Verdict] = []
    if escalated:
        chosen = tuple(ranked)
        verdicts += [Verdict(c.id, CHOSEN, "escalated") for c in ranked]
    elif ranked:
        best, chosen = ranked[0], (ranked[0],)
        best_key = sort_key(best, shares)
        if second_chance:
            why = "second_chance"
        elif len(ranked) == 1:
            why = "only_eligible"
        else:
            why = CHOSEN_BY[_first_difference(best_key, sort_key(ranked[1], shares))]
        verdicts.append(Verdict(best.id, CHOSEN, why))
        for other in ranked[1:]:
            lower = RANKED_LOWER[_first_difference(best_key, sort_key(other, shares))]
            verdicts.append(Verdict(other.id, PASSED, lower))
    else:
        chosen = ()
    eligible = {c.id for c in ranked}
    barred = []
    for c in candidates:
        if c.id in eligible:
            continue
        if c.id in busy:
            barred.append(Verdict(c.id, PASSED, "busy"))
            continue
        code = INELIGIBLE[ineligibility(c, **where, offered=offered, now=now)]
        if code == "already_offered":
            code = PREVIOUS.get(previous.get(c.id, ""), code)
        barred.append(Verdict(c.id, PASSED, code))
    # Those in the area before those outside it: the bounded record keeps the informative ones.
    barred.sort(key=lambda v: (v.reason == "out_of_area", v.installer_id))
    everyone = verdicts + barred
    by_id = {c.id: c for c in candidates}
    told = len(everyone) if facts_for is None else facts_for
    everyone[:told] = [
        replace(v, facts=facts_of(by_id[v.installer_id], **where)) for v in everyone[:told]
    ]
    return Explanation(chosen, tuple(everyone))
