"""Bad-lead report rules (#20), pure: the monthly quota, the window, the reasons that need
attempts, the automatic rules, the transition of an approved report, and each source's
quality figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from mailflow.domain import lead as lead_rules
from mailflow.domain import returns as rules
from mailflow.domain.effects import CancelTimers, Record
from mailflow.domain.events import LeadNeedsInstaller
from mailflow.domain.statuses import Actor, LeadStatus

ACCEPTED = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("accepted", "percent", "quota"),
    [(100, 10, 10), (0, 10, 1), (9, 10, 1), (19, 10, 1), (20, 10, 2), (55, 10, 5), (30, 0, 1)],
)
def test_the_quota_is_a_share_of_the_month_s_accepted_leads_and_at_least_one(
    accepted, percent, quota
):
    assert rules.monthly_quota(accepted, percent) == quota


def check(**overrides):
    values = {
        "status": LeadStatus.ACCEPTED,
        "reason": rules.OUTSIDE_AREA,
        "attempts": None,
        "min_attempts": 3,
        "accepted_at": ACCEPTED,
        "now": ACCEPTED + timedelta(hours=10),
        "window_hours": 72.0,
        "reports_this_month": 0,
        "accepted_this_month": 20,
        "quota_percent": 10.0,
        "already_reported": False,
    }
    rules.check_report(**{**values, **overrides})


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"reason": "bored"}, "reason"),
        ({"already_reported": True}, "already"),
        ({"status": LeadStatus.ORDER_PLACED}, "status"),
        ({"status": LeadStatus.INSTALLED}, "status"),
        ({"now": ACCEPTED + timedelta(hours=72, seconds=1)}, "window"),
        ({"reason": rules.UNREACHABLE, "attempts": 2}, "attempts"),
        ({"reason": rules.UNREACHABLE}, "attempts"),
        ({"reports_this_month": 2}, "quota"),
    ],
)
def test_refusals(overrides, code):
    with pytest.raises(rules.ReportRefused) as refused:
        check(**overrides)
    assert refused.value.code == code


def test_allowed_reports():
    check()
    check(now=ACCEPTED + timedelta(hours=72))  # the window's last instant
    check(reason=rules.UNREACHABLE, attempts=3)
    check(reports_this_month=1)  # 20 accepted: 2 reports


def test_automatic_rules():
    assert (
        rules.automatic_rule(rules.UNREACHABLE, customer_email_bounced=True, duplicate_seen=False)
        == rules.RULE_BOUNCED
    )
    assert (
        rules.automatic_rule(rules.FAKE, customer_email_bounced=True, duplicate_seen=False)
        == rules.RULE_BOUNCED
    )
    assert (
        rules.automatic_rule(rules.OUTSIDE_AREA, customer_email_bounced=True, duplicate_seen=True)
        is None
    )
    assert (
        rules.automatic_rule(rules.DUPLICATE, customer_email_bounced=False, duplicate_seen=True)
        == rules.RULE_DUPLICATE
    )
    assert (
        rules.automatic_rule(rules.DUPLICATE, customer_email_bounced=False, duplicate_seen=False)
        is None
    )


def test_an_approved_report_rotates_or_closes_through_the_machine():
    lead = SimpleNamespace(
        id=7, status=LeadStatus.CONTACT_ATTEMPTED, assigned_installer_id=3, progress={}
    )
    result = lead_rules.returned(lead, at=ACCEPTED, actor=Actor.ADMIN, close=False, reason="r")
    assert (lead.status, lead.assigned_installer_id) == (LeadStatus.NEW, None)
    assert LeadNeedsInstaller(7, "released") in result.events
    assert any(isinstance(e, CancelTimers) for e in result.effects)

    fake = SimpleNamespace(id=8, status=LeadStatus.ACCEPTED, assigned_installer_id=3, progress={})
    result = lead_rules.returned(fake, at=ACCEPTED, actor=Actor.SYSTEM, close=True, reason="fake")
    assert (fake.status, fake.progress["failed_reason"]) == (LeadStatus.FAILED, "fake")
    assert (
        result.events == ()
        and Record(8, "return_closed", Actor.SYSTEM, {"reason": "fake", "installer_id": 3})
        in result.effects
    )

    done = SimpleNamespace(id=9, status=LeadStatus.INSTALLED, assigned_installer_id=3, progress={})
    with pytest.raises(lead_rules.Refused):
        lead_rules.returned(done, at=ACCEPTED, actor=Actor.ADMIN, close=True, reason="fake")


def test_source_quality_counts_each_lead_once():
    leads = [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("b", 5), (None, 6)]
    reports = [
        ("a", 1, rules.APPROVED),
        ("a", 1, rules.REJECTED),  # two installers reported lead 1: it counts once
        ("a", 2, rules.REJECTED),
        ("a", 3, rules.PENDING),
        ("b", 5, rules.APPROVED),
        ("b", 99, rules.APPROVED),  # a lead outside the period
    ]
    quality = {q.source: q for q in rules.source_quality(leads, reports)}
    assert (quality["a"].leads, quality["a"].reported, quality["a"].approved) == (4, 3, 1)
    assert (quality["a"].reported_share, quality["a"].approved_share) == (0.75, 0.25)
    assert (quality["b"].leads, quality["b"].approved_share) == (1, 1.0)
    assert (quality[""].leads, quality[""].reported, quality[""].approved_share) == (1, 0, 0.0)
    assert rules.source_quality([], []) == []
