"""Speed-to-lead figures: median and p90 from arrival to acceptance and to first contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailflow.domain.speed import SpeedRow, percentile, speed_figures

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_median_and_p90_of_a_known_set():
    # accepted after 5, 10, ..., 50 minutes (10 leads); contact after 1..9 hours (9 leads)
    rows = [
        SpeedRow(
            T0,
            accepted_at=T0 + minutes(5 * k),
            first_contact_at=T0 + timedelta(hours=k) if k < 10 else None,
        )
        for k in range(1, 11)
    ]
    rows.append(SpeedRow(T0))  # never accepted: in neither figure
    figures = speed_figures(rows)
    assert figures.to_acceptance.count == 10
    assert figures.to_acceptance.median == minutes(27.5)  # (25 + 30) / 2
    assert figures.to_acceptance.p90 == minutes(45)  # 9th of 10
    assert figures.to_first_contact.count == 9
    assert figures.to_first_contact.median == timedelta(hours=5)
    assert figures.to_first_contact.p90 == timedelta(hours=9)  # ceil(8.1) = 9th of 9


def test_empty_and_single():
    empty = speed_figures([])
    assert empty.to_acceptance.count == 0 and empty.to_acceptance.median is None
    assert empty.to_first_contact.p90 is None
    one = speed_figures([SpeedRow(T0, T0 + minutes(3), T0 + minutes(7))])
    assert one.to_acceptance.median == one.to_acceptance.p90 == minutes(3)
    assert one.to_first_contact.median == minutes(7)


def test_percentile_nearest_rank():
    values = [minutes(v) for v in (7, 1, 3, 9, 5)]
    assert percentile(values, 0.5) == minutes(5)
    assert percentile(values, 0.9) == minutes(9)
    assert percentile(values, 0.2) == minutes(1)
