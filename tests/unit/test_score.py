"""The score function: table tests and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.domain.score import (
    TIER_MARGIN,
    TIERS,
    History,
    Thresholds,
    TierDecision,
    compute,
    decide_tier,
    enough_history,
    tier_for,
)


@pytest.mark.parametrize(
    ("history", "tier", "low", "high"),
    [
        (History(), "silver", 50, 60),  # nothing known: priors put a newcomer in the middle
        (
            History(
                ratings=(5, 5, 5, 5, 5, 5),
                offers_answered=20,
                offers_accepted=18,
                answer_hours=(0.5, 1, 1.5),
                accepted_leads=18,
                leads_with_progress=18,
            ),
            "gold",
            85,
            100,
        ),
        (
            History(
                ratings=(1, 2, 1),
                offers_answered=20,
                offers_accepted=3,
                answer_hours=(30, 40),
                accepted_leads=3,
                leads_with_progress=0,
            ),
            "bronze",
            0,
            30,
        ),
        (
            History(
                ratings=(4, 4),
                offers_answered=10,
                offers_accepted=6,
                answer_hours=(5, 6, 7),
                accepted_leads=6,
                leads_with_progress=5,
            ),
            "silver",
            55,
            75,
        ),
    ],
)
def test_table(history, tier, low, high):
    result = compute(history)
    assert result.tier == tier
    assert low <= result.score <= high


def test_one_review_does_not_dominate():
    one_bad = compute(History(ratings=(1,)))
    many_bad = compute(History(ratings=(1,) * 10))
    assert one_bad.score > many_bad.score + 10
    assert compute(History(ratings=(5,))).score < compute(History(ratings=(5,) * 10)).score


def test_lapsed_reservations_cost_points_and_advice():
    clean = compute(History(accepted_leads=5, leads_with_progress=5))
    lapsed = compute(History(accepted_leads=5, leads_with_progress=5, lapsed=2))
    assert lapsed.score == pytest.approx(clean.score - 10)
    assert lapsed.advice[0] == "lapsed"


def test_thresholds_come_from_settings():
    assert tier_for(60, Thresholds(silver=50, gold=75)) == "silver"
    assert tier_for(60, Thresholds(silver=40, gold=55)) == "gold"


marks = st.integers(min_value=1, max_value=5)
histories = st.builds(
    History,
    ratings=st.lists(marks, max_size=30).map(tuple),
    offers_answered=st.integers(0, 50),
    offers_accepted=st.integers(0, 50),
    answer_hours=st.lists(st.floats(0, 72), max_size=20).map(tuple),
    accepted_leads=st.integers(0, 50),
    leads_with_progress=st.integers(0, 50),
    lapsed=st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(1, 10))
def test_more_good_ratings_never_lower_the_score(history, extra):
    better = History(**{**history.__dict__, "ratings": history.ratings + (5,) * extra})
    assert compute(better).score >= compute(history).score
    assert 0 <= compute(history).score <= 100


# ------------------------------------------------------------------ the tier decision -------
tiers = st.sampled_from(TIERS)


def test_one_middling_rating_does_not_drop_an_imported_gold():
    """The report: a Gold installer's first survey averaged 3.67 and dropped them to Silver."""
    decision = decide_tier("gold", History(ratings=(3.67,)))
    assert decision == TierDecision("gold", "little_history", decision.score)


def test_pinned_tier_stays_whatever_the_score():
    awful = History(ratings=(1,) * 10, offers_answered=20, answer_hours=(50,))
    assert decide_tier("gold", awful, pinned=True).tier == "gold"
    assert decide_tier("gold", awful).tier == "bronze"


def test_the_margin_keeps_a_tier_just_under_its_threshold():
    history = History(ratings=(4, 4, 4, 4), offers_answered=10, offers_accepted=7)
    score = compute(history).score
    gold_near = Thresholds(silver=40, gold=score + 2)
    assert decide_tier("gold", history, thresholds=gold_near) == TierDecision(
        "gold", "margin", score
    )
    assert decide_tier("silver", history, thresholds=gold_near).tier == "silver"
    gold_far = Thresholds(silver=40, gold=score + TIER_MARGIN + 1)
    assert decide_tier("gold", history, thresholds=gold_far).tier == "silver"


def _step_from_history(current: str, history: History) -> int:
    """The rule as specified: no move without enough history; up at the threshold; down only
    past the margin. Positive = promotion, negative = demotion."""
    if not enough_history(history):
        return 0
    score = compute(history).score
    up = TIERS.index(tier_for(score, Thresholds())) - TIERS.index(current)
    if up >= 0:
        return up
    return min(0, TIERS.index(tier_for(score + TIER_MARGIN, Thresholds())) - TIERS.index(current))


@settings(max_examples=400, deadline=None)
@given(tiers, histories, marks, st.booleans())
def test_a_single_rating_never_changes_a_tier_on_its_own(current, history, rating, pinned):
    """If adding one rating changes the tier, the history without that rating already points
    the same way: the latest rating alone never swings a tier."""
    rated = History(**{**history.__dict__, "ratings": (*history.ratings, rating)})
    after = decide_tier(current, rated, pinned=pinned)
    step = TIERS.index(after.tier) - TIERS.index(current)
    if pinned:
        assert step == 0
    if step:
        assert _step_from_history(current, history) * step > 0
        # and no further than the history without the rating goes
        assert abs(step) <= abs(_step_from_history(current, history))


@settings(max_examples=400, deadline=None)
@given(tiers, histories)
def test_the_tier_shown_agrees_with_the_score_and_the_thresholds(current, history):
    """The decision's reason is true of the figures the score page shows next to it."""
    thresholds = Thresholds()
    decision = decide_tier(current, history, thresholds=thresholds)
    by_score = tier_for(decision.score, thresholds)
    assert decision.score == compute(history).score
    if decision.why == "little_history":
        assert decision.tier == current and not enough_history(history)
    elif decision.why == "margin":
        # Under the current tier's threshold, but by no more than the margin.
        assert decision.tier == current and TIERS.index(by_score) < TIERS.index(current)
        assert decision.score >= getattr(thresholds, current) - TIER_MARGIN
    elif decision.why == "score":
        assert enough_history(history)
        # Promotions at the threshold; demotions only past the margin.
        if TIERS.index(decision.tier) > TIERS.index(current):
            assert TIERS.index(by_score) >= TIERS.index(decision.tier)
        elif TIERS.index(decision.tier) < TIERS.index(current):
            assert decision.score < getattr(thresholds, current) - TIER_MARGIN
        else:
            assert by_score == current
    # Deciding again from the new tier changes nothing (no flapping from night to night),
    # unless the single-rating brake held back a change.
    if decision.why != "one_rating":
        again = decide_tier(decision.tier, history, thresholds=thresholds)
        assert again.tier == decision.tier
