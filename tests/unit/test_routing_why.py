"""Why an installer got a lead and why the others did not: each reason code (#20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailflow.domain.routing import Candidate, choose
from mailflow.domain.routing_why import (
    INELIGIBLE,
    REASON_TEXTS,
    WHY_YOU,
    explain,
)

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)


def cand(id_: int, **kw) -> Candidate:
    base = {"email": f"i{id_}@x", "country": "FR", "postcodes": ("75",)}
    base.update(kw)
    return Candidate(id=id_, **base)


def why(candidates, offered=(), **kw):
    return explain(candidates, postcode="75011", country="FR", offered=set(offered), now=NOW, **kw)


def reasons(explanation):
    return {v.installer_id: (v.outcome, v.reason) for v in explanation.verdicts}


@pytest.mark.parametrize(
    ("other", "code"),
    [
        (cand(2, active=False), "inactive"),
        (cand(2, bounced=True), "bounced"),
        (cand(2, vacation_from=NOW - timedelta(days=1)), "vacation"),
        (cand(2, postcodes=("69",)), "out_of_area"),
        (cand(2, country="BE"), "out_of_area"),
        (cand(2, capacity=2, open_leads=1, pending_offers=1), "at_capacity"),
        (cand(2, pending_offers=3, pending_limit=3), "pending_limit"),
        (cand(2, offers_day=2, cap_day=2), "cap_day"),
        (cand(2, offers_week=5, cap_week=5), "cap_week"),
        (cand(2, offers_month=9, cap_month=9), "cap_month"),
    ],
)
def test_each_exclusion_has_its_code(other, code):
    result = why([cand(1), other])
    assert reasons(result) == {1: ("chosen", "only_eligible"), 2: ("passed", code)}
    assert [c.id for c in result.chosen] == [1]
    assert code in REASON_TEXTS


@pytest.mark.parametrize(
    ("status", "code"), [("declined", "declined"), ("expired", "expired"), ("", "already_offered")]
)
def test_an_earlier_offer_says_what_became_of_it(status, code):
    result = why([cand(1), cand(2)], offered={2}, previous={2: status} if status else None)
    assert reasons(result)[2] == ("passed", code)


@pytest.mark.parametrize(
    ("best", "other", "chosen_by", "lower"),
    [
        (cand(1, offers_30d=1), cand(2, offers_30d=4), "fewest_offers", "more_offers"),
        # gold's share is 3: 3 offers in 30 days weigh as silver's 2
        (
            cand(1, tier="gold", offers_30d=3),
            cand(2, tier="silver", offers_30d=2),
            "higher_tier",
            "lower_tier",
        ),
        (
            cand(1, last_offer_at=NOW - timedelta(days=9)),
            cand(2, last_offer_at=NOW - timedelta(days=1)),
            "waited_longest",
            "waited_less",
        ),
        (cand(1, rating=4.5), cand(2, rating=3.0), "better_rating", "lower_rating"),
        (cand(1), cand(2), "tie_break", "tie_break"),
    ],
)
def test_ranked_lower_says_on_which_rule(best, other, chosen_by, lower):
    result = why([other, best])
    assert reasons(result) == {1: ("chosen", chosen_by), 2: ("passed", lower)}
    assert chosen_by in WHY_YOU


def test_same_choice_as_choose_and_order_of_verdicts():
    pool = [
        cand(1, offers_30d=6),
        cand(2, offers_30d=1, tier="silver"),
        cand(3, postcodes=("13",)),
        cand(4, vacation_until=NOW + timedelta(days=3)),
        cand(5, offers_30d=2),
    ]
    where = {"postcode": "75011", "country": "FR", "offered": set(), "now": NOW}
    result = explain(pool, **where)
    assert result.chosen[0].id == choose(pool, **where).installer.id == 2
    # chosen, then the eligible by rank, then the ineligible (outside the area last)
    assert [v.installer_id for v in result.verdicts] == [2, 5, 1, 4, 3]
    chosen = result.verdicts[0]
    assert chosen.facts["tier"] == "silver"
    assert chosen.facts["area"] == "75"
    assert chosen.facts["offers_30d"] == 1


def test_nobody_eligible_and_escalation_and_second_chance():
    nobody = why([cand(1, active=False)])
    assert nobody.chosen == () and nobody.reason is None
    everyone = why([cand(1), cand(2), cand(3, bounced=True)], escalated=True)
    assert reasons(everyone) == {
        1: ("chosen", "escalated"),
        2: ("chosen", "escalated"),
        3: ("passed", "bounced"),
    }
    again = why([cand(1), cand(2)], offered={2}, second_chance=True)
    assert again.reason == "second_chance"


def test_the_record_is_bounded_and_counts_the_rest():
    pool = [cand(1)] + [cand(i, postcodes=("13",)) for i in range(2, 60)] + [cand(60, bounced=True)]
    stored, rest = why(pool).bounded(keep=5)
    assert [v["installer_id"] for v in stored] == [1, 60, 2, 3, 4]
    assert stored[1]["reason"] == "bounced"
    assert rest == {"out_of_area": 55}


def test_every_ineligibility_word_has_a_code():
    assert set(INELIGIBLE.values()) <= set(REASON_TEXTS)


def test_a_busy_installer_is_passed_over_and_the_next_best_is_chosen():
    # 1 would win on tier; another worker is offering them a lead right now.
    result = why([cand(1, tier="gold"), cand(2, tier="silver"), cand(3, tier="bronze")], busy={1})
    assert [c.id for c in result.chosen] == [2]
    assert reasons(result) == {
        2: ("chosen", "higher_tier"),
        3: ("passed", "lower_tier"),
        1: ("passed", "busy"),
    }
    assert "busy" in REASON_TEXTS
