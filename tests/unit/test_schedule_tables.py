"""The scheduler's work is two explicit tables (no registration by import): the sweep jobs in
their order (their names are metric labels), and a handler for every timer kind the features
schedule."""

from __future__ import annotations

from mailflow.schedule import SWEEPS, TIMER_HANDLERS


def test_the_sweeps_run_in_their_order_under_their_metric_names():
    assert [sweep.name for sweep in SWEEPS] == [
        "inbound",
        "retention",
        "lead_search",
        "timers",
        "expiry",
        "inactive_installers",
        "digests",
        "outbox",
        "tiers",
        "withdrawals",
        "offers",
        "route",
        "exchange_mail",
        "admin_digest",
        "report_samples",
        "imports",
    ]
    assert all(callable(sweep.run) for sweep in SWEEPS)


def test_every_timer_kind_has_a_handler():
    assert set(TIMER_HANDLERS) == {
        "status_reminder",
        "reservation_lapse",
        "follow_up_reminder",
        "visit_reminder",
        "survey",
        "survey_reminder",
        "claim_lapse",
        "offer_release",
    }
    assert all(callable(handler) for handler in TIMER_HANDLERS.values())
