"""The fairness check's arithmetic (#20): expected offers from the eligible installers' weights."""

from __future__ import annotations

import pytest

from mailflow.domain.fairness import FAIR, LESS, MORE, Decision, shares

WEIGHTS = {"gold": 3.0, "silver": 2.0, "bronze": 1.0}


def candidate(installer_id: int, tier: str, outcome: str, reason: str) -> dict:
    return {
        "installer_id": installer_id,
        "outcome": outcome,
        "reason": reason,
        "facts": {"tier": tier},
    }


def decision(chosen: int, *, kind: str = "offered", barred: tuple = ()) -> Decision:
    tiers = {1: "gold", 2: "silver", 3: "bronze"}
    candidates = [
        candidate(
            i,
            tiers[i],
            "chosen" if i == chosen else "passed",
            "fewest_offers" if i == chosen else "more_offers",
        )
        for i in (1, 2, 3)
        if i not in barred
    ]
    candidates.append(candidate(4, "gold", "passed", "vacation"))
    return Decision(kind, chosen, candidates)


def test_offers_in_proportion_to_the_weights_are_fair():
    decisions = [decision(1)] * 30 + [decision(2)] * 20 + [decision(3)] * 10
    rows = {r.installer_id: r for r in shares(decisions, WEIGHTS)}
    assert set(rows) == {1, 2, 3}  # the installer on vacation was never eligible
    assert rows[1].expected == pytest.approx(30) and rows[1].offered == 30
    assert rows[2].expected == pytest.approx(20) and rows[3].expected == pytest.approx(10)
    assert {r.verdict for r in rows.values()} == {FAIR}
    assert rows[1].ratio == pytest.approx(1.0)


def test_one_installer_getting_everything_is_flagged():
    decisions = [decision(1)] * 60
    rows = {r.installer_id: r for r in shares(decisions, WEIGHTS)}
    assert rows[1].offered == 60 and rows[1].expected == pytest.approx(30)
    assert rows[1].verdict == MORE
    assert rows[2].verdict == LESS and rows[3].verdict == LESS
    assert rows[3].offered == 0 and rows[3].ratio == 0
    # most favoured first
    assert [r.installer_id for r in shares(decisions, WEIGHTS)][0] == 1


def test_only_the_eligible_share_a_decision_and_other_kinds_do_not_count():
    # Silver and bronze barred: gold was the only one who could have it.
    decisions = [decision(1, barred=(2, 3))] * 5
    decisions += [decision(2, kind="escalated"), Decision("pooled", None, [])]
    rows = {r.installer_id: r for r in shares(decisions, WEIGHTS)}
    assert set(rows) == {1}
    assert rows[1].expected == pytest.approx(5) and rows[1].variance == pytest.approx(0)
    assert rows[1].verdict == FAIR


def test_a_small_gap_is_chance_not_unfairness():
    # Two equal installers, 6 decisions, 4 to one: a gap of 1 is below the minimum.
    two = [
        Decision(
            "offered",
            c,
            [
                candidate(1, "gold", "chosen" if c == 1 else "passed", "tie_break"),
                candidate(2, "gold", "chosen" if c == 2 else "passed", "tie_break"),
            ],
        )
        for c in (1, 1, 1, 1, 2, 2)
    ]
    rows = {r.installer_id: r for r in shares(two, WEIGHTS)}
    assert rows[1].expected == pytest.approx(3) and rows[1].offered == 4
    assert rows[1].verdict == FAIR and rows[2].verdict == FAIR
