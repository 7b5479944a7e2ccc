"""The transitions are pure: given plain rows they change them through the tables and return
what they cause (effects and events), which a test reads without a database or broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.effects import (
    CancelTimers,
    Enqueue,
    Outcome,
    QueueEmail,
    Record,
    outcome,
)
from mailflow.domain.events import (
    LeadAccepted,
    LeadAssigned,
    LeadNeedsInstaller,
    LeadPooled,
    OfferMade,
)
from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def lead(status=LeadStatus.OFFERED, **extra):
    return SimpleNamespace(
        id=7,
        status=status,
        assigned_installer_id=None,
        updated_at=None,
        accepted_at=None,
        status_changed_at=None,
        **extra,
    )


def offer(status=OfferStatus.OFFERED):
    return SimpleNamespace(
        id=3,
        status=status,
        installer_id=11,
        answered_at=None,
        decline_reason=None,
        decline_note=None,
        deadline=AT + timedelta(hours=24),
        routing_reason="gold",
    )


def installer():
    return SimpleNamespace(id=11, email="contact@soleil.example", last_action_at=None)


def test_accept_moves_both_and_reports_the_acceptance():
    row, o, who = lead(), offer(), installer()
    result = offer_rules.accept(o, row, who, at=AT, actor=Actor.INSTALLER, via="reply")
    assert (o.status, row.status) == (OfferStatus.ACCEPTED, LeadStatus.ACCEPTED)
    assert row.assigned_installer_id == 11 and row.accepted_at == AT and who.last_action_at == AT
    assert result.effects == (
        Record(
            7, "accepted", Actor.INSTALLER, {"installer": who.email, "offer_id": 3, "via": "reply"}
        ),
    )
    assert result.events == (LeadAccepted(7, 11, 3, "reply"),)


def test_decline_sends_the_lead_back_to_rotation_with_a_known_reason():
    row, o = lead(), offer()
    result = offer_rules.decline(o, row, installer(), reason="made-up", note="", at=AT, via="link")
    assert o.status == OfferStatus.DECLINED and o.decline_reason == "other"
    assert row.status == LeadStatus.NEW
    assert result.events == (LeadNeedsInstaller(7, "declined"),)
    (record,) = result.effects
    assert record.type == "declined" and record.data["reason"] == "other"


def test_expire_rotates_only_an_offered_lead_and_twice_is_nothing():
    row, o = lead(), offer()
    first = offer_rules.expire(o, row, "x@example.org", at=AT)
    assert first.events == (LeadNeedsInstaller(7, "offer_expired"),)
    assert offer_rules.expire(o, row, "x@example.org", at=AT) == Outcome()

    taken = lead(LeadStatus.ACCEPTED)
    late = offer_rules.expire(offer(), taken, "x@example.org", at=AT)
    assert late.events == () and taken.status == LeadStatus.ACCEPTED


def test_an_answered_offer_cannot_be_accepted_again():
    o = offer(OfferStatus.DECLINED)
    with pytest.raises(offer_rules.Refused):
        offer_rules.accept(o, lead(), installer(), at=AT, actor=Actor.INSTALLER, via="link")
    assert offer_rules.closed_code(o.status, LeadStatus.OFFERED) == "already_declined"
    assert offer_rules.closed_code(OfferStatus.OFFERED, LeadStatus.ACCEPTED) == "taken"
    assert offer_rules.closed_code(OfferStatus.OFFERED, LeadStatus.OFFERED) is None


def test_a_new_offer_queues_its_email_and_reports_it():
    row, o = lead(LeadStatus.NEW), offer()
    result = offer_rules.offered(row, o, "contact@soleil.example", at=AT)
    assert row.status == LeadStatus.OFFERED
    assert QueueEmail("offer", lead_id=7, installer_id=11, subject_id=3) in result.effects
    assert result.events == (OfferMade(3, 7, 11),)


def test_the_pool_alerts_once():
    row = lead(LeadStatus.NEW)
    first = lead_rules.pool(row, at=AT, offered_before=True)
    assert row.status == LeadStatus.POOL and first.events == (LeadPooled(7),)
    assert first.effects[0].data["reason"] == "no eligible installer left"
    assert lead_rules.pool(row, at=AT, offered_before=True) == Outcome()


def test_release_and_assign():
    held = lead(LeadStatus.QUOTE_SENT)
    held.assigned_installer_id = 11
    released = lead_rules.release(held, at=AT, actor=Actor.INSTALLER, reason="too far")
    assert held.status == LeadStatus.NEW and held.assigned_installer_id is None
    assert released.effects[0].data == {"reason": "too far", "installer_id": 11}
    assert released.events == (LeadNeedsInstaller(7, "released"),)

    assigned = lead_rules.assign(lead(LeadStatus.POOL), installer(), at=AT, by="admin@x.example")
    assert assigned.effects == (CancelTimers(7, lead_rules.PROGRESS_TIMERS),)
    assert assigned.events == (LeadAssigned(7, 11, "admin@x.example"),)


def test_outcomes_add_up_and_sort_effects_from_events():
    combined = outcome(Enqueue("route_lead_job", (1,)), LeadPooled(1)) + outcome(LeadPooled(2))
    assert combined.effects == (Enqueue("route_lead_job", (1,)),)
    assert combined.events == (LeadPooled(1), LeadPooled(2))
