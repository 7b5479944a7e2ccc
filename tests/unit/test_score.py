"""The score function: table tests and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.domain.score import History, Thresholds, compute, tier_for


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
