"""Routing rules as pure functions: eligibility and order (PRODUCT.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailflow.domain.routing import (
    Candidate,
    available_days,
    choose,
    ineligibility,
    rank,
)

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)


def cand(id_: int, **kw) -> Candidate:
    base = {"email": f"i{id_}@x", "country": "FR", "postcodes": ("75",)}
    base.update(kw)
    return Candidate(id=id_, **base)


def order(candidates, postcode="75010", country="FR", offered=()):
    return [
        c.id
        for c in rank(candidates, postcode=postcode, country=country, offered=set(offered), now=NOW)
    ]


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (cand(1, active=False), "inactive"),
        (cand(1, bounced=True), "email address bounces"),
        (
            cand(1, vacation_from=NOW - timedelta(days=1), vacation_until=NOW + timedelta(days=1)),
            "on vacation",
        ),
        (cand(1, postcodes=("69",)), "does not serve this postcode"),
        (cand(1, country="DE"), "does not serve this postcode"),
        (cand(1, capacity=3, open_leads=3), "at capacity"),
    ],
)
def test_ineligible(candidate, reason):
    assert (
        ineligibility(candidate, postcode="75010", country="FR", offered=set(), now=NOW) == reason
    )


def test_already_offered_is_skipped():
    assert (
        ineligibility(cand(1), postcode="75010", country="FR", offered={1}, now=NOW)
        == "already offered this lead"
    )


def test_vacation_edges():
    ended = cand(1, vacation_from=NOW - timedelta(days=5), vacation_until=NOW)
    future = cand(2, vacation_from=NOW + timedelta(hours=1), vacation_until=NOW + timedelta(days=3))
    assert order([ended, future]) == [1, 2]


def test_postcode_prefixes_per_country():
    uk = cand(1, country="GB", postcodes=("W", "SW", "E1"))
    assert order([uk], postcode="W1A 1AA", country="GB") == [1]
    assert order([uk], postcode="SW1A 2AA", country="GB") == [1]
    assert order([uk], postcode="WC1E 6BT", country="GB") == []  # W is not WC
    assert order([uk], postcode="E14 5AB", country="GB") == [1]
    pl = cand(2, country="PL", postcodes=("80",))
    assert order([pl], postcode="80-831", country="PL") == [2]
    de = cand(3, country="DE", postcodes=("04",))
    assert order([de], postcode="04107", country="DE") == [3]
    assert order([de], postcode="40107", country="DE") == []


def test_weighted_share_then_tier_then_longest_wait_then_rating():
    # Offers per day relative to the tier's share (gold 3, silver 2, bronze 1).
    gold = cand(1, tier="gold", offers_30d=3)  # 1 per share
    silver = cand(2, tier="silver", offers_30d=3)  # 1.5 per share
    bronze = cand(9, tier="bronze", offers_30d=0)
    assert order([silver, gold, bronze]) == [9, 1, 2]
    # Equal footing: the higher tier first.
    assert order([cand(10, tier="silver"), cand(11, tier="gold"), cand(12)]) == [11, 10, 12]
    a = cand(3, tier="silver", offers_30d=2, last_offer_at=NOW - timedelta(days=1))
    b = cand(4, tier="silver", offers_30d=2, last_offer_at=NOW - timedelta(days=3))
    c = cand(5, tier="silver", offers_30d=1, last_offer_at=NOW - timedelta(hours=1))
    assert order([a, b, c]) == [5, 4, 3]
    d = cand(6, tier="bronze", rating=4.8, last_offer_at=NOW - timedelta(days=1))
    e = cand(7, tier="bronze", rating=3.1, last_offer_at=NOW - timedelta(days=1))
    f = cand(8, tier="bronze", rating=None, last_offer_at=NOW - timedelta(days=1))
    assert order([f, e, d]) == [6, 7, 8]


def test_choice_and_reason():
    choice = choose(
        [cand(1, tier="gold", offers_30d=2), cand(2, tier="bronze", offers_30d=1)],
        postcode="75011",
        country="FR",
        offered=set(),
        now=NOW,
    )
    assert choice.installer.id == 1
    assert choice.reason == "gold, 2 offers in 30 days, serves 75; 1 other eligible"
    assert choose([cand(1)], postcode="75011", country="FR", offered={1}, now=NOW) is None


def test_returning_installer_does_not_catch_up():
    # Back from three weeks away with no offers: compared per available day, not in total.
    back = cand(
        1,
        offers_30d=0,
        vacation_from=NOW - timedelta(days=24),
        vacation_until=NOW - timedelta(days=3),
        available_days=available_days(NOW - timedelta(days=24), NOW - timedelta(days=3), NOW),
    )
    assert back.available_days == pytest.approx(9)
    peer = cand(2, offers_30d=6, available_days=30)  # 0.2 offers a day
    assert order([back, peer]) == [1, 2]  # fewer per day: still next...
    back_after_two = cand(1, offers_30d=2, available_days=9)  # 0.22 a day
    assert order([back_after_two, peer]) == [2, 1]  # ...but only until level with the others


def test_shares_over_a_thousand_leads():
    """Over many leads in one area gold gets more than silver gets more than bronze, and nobody
    eligible is starved (default shares 3:2:1)."""
    team = {1: "gold", 2: "silver", 3: "bronze", 4: "bronze"}
    offers = dict.fromkeys(team, 0)
    last = dict.fromkeys(team)
    for i in range(1000):
        at = NOW + timedelta(minutes=40 * i)
        candidates = [
            cand(k, tier=tier, offers_30d=offers[k], last_offer_at=last[k], capacity=10_000)
            for k, tier in team.items()
        ]
        winner = choose(candidates, postcode="75011", country="FR", offered=set(), now=at)
        offers[winner.installer.id] += 1
        last[winner.installer.id] = at
    assert sum(offers.values()) == 1000
    assert offers[1] > offers[2] > offers[3]
    assert offers[1] == pytest.approx(1000 * 3 / 7, abs=5)
    assert offers[2] == pytest.approx(1000 * 2 / 7, abs=5)
    assert offers[3] == pytest.approx(offers[4], abs=2) == pytest.approx(1000 / 7, abs=5)
