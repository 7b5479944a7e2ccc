"""Routing rules as pure functions: eligibility and order (PRODUCT.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailflow.domain.routing import (
    BUSY,
    Candidate,
    available_days,
    choose,
    ineligibility,
    paced_caps,
    period_starts,
    rank,
    waits,
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


# ------------------------------------------------------------------ capacity (#17) ---------
@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (cand(1, capacity=3, open_leads=1, pending_offers=2), "at capacity"),
        (cand(1, pending_offers=3, pending_limit=3), "too many open offers"),
        (cand(1, offers_day=5, cap_day=5), "daily cap reached"),
        (cand(1, offers_week=9, cap_week=9), "weekly cap reached"),
        (cand(1, offers_month=40, cap_month=40), "monthly cap reached"),
    ],
)
def test_busy_installers_are_not_eligible(candidate, reason):
    assert (
        ineligibility(candidate, postcode="75010", country="FR", offered=set(), now=NOW) == reason
    )
    assert reason in BUSY


def test_below_every_limit_is_eligible():
    c = cand(1, pending_offers=2, pending_limit=3, offers_day=4, cap_day=5, capacity=10)
    assert ineligibility(c, postcode="75010", country="FR", offered=set(), now=NOW) is None


def test_a_lead_waits_only_for_busy_installers():
    where = {"postcode": "75010", "country": "FR", "now": NOW}
    busy = cand(1, pending_offers=3, pending_limit=3)
    assert waits([busy, cand(2, active=False)], offered=set(), **where)
    # Nobody serves it, or the only busy one was offered this lead already: the pool.
    assert not waits([cand(2, postcodes=("69",))], offered=set(), **where)
    assert not waits([busy], offered={1}, **where)
    assert not waits([cand(3, active=False)], offered=set(), **where)


@pytest.mark.parametrize(
    ("caps", "paced"),
    [
        ((None, None, None), (None, None, None)),
        ((None, None, 300), (30, 90, 300)),  # 10 % a day, 30 % a week
        ((20, None, 300), (20, 90, 300)),  # the installer's own tighter cap wins
        ((50, 200, 300), (30, 90, 300)),
        ((None, None, 5), (1, 2, 5)),  # rounded up, at least one
        ((7, 30, None), (7, 30, None)),
    ],
)
def test_monthly_caps_are_paced(caps, paced):
    assert paced_caps(*caps) == paced


def test_periods_start_in_the_installers_time_zone():
    # Wednesday 2 December 2026, 23:30 UTC: already Thursday 3 December in Paris, and
    # Thursday noon in Auckland; the week starts on Monday 30 November, locally.
    at = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    day, week, month = period_starts(at, "Europe/Paris")
    assert day == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert week == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert month == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    day, _, _ = period_starts(at, "Pacific/Auckland")
    assert day == datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    day, _, month = period_starts(at, "America/New_York")
    assert day == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert month == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert period_starts(at, "Not/AZone")[0] == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
