"""What a site visit change returns (no database: the Outcome is asserted as data)."""

from datetime import UTC, datetime, timedelta

from mailflow.domain.effects import CancelTimers, QueueEmail, Record, SetTimer
from mailflow.domain.statuses import Actor
from mailflow.domain.visit import visit_changed, visit_reminder

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def changed(change: str, *, starts_at=NOW + timedelta(days=3), email=True):
    return visit_changed(
        lead_id=7,
        installer_id=3,
        visit_id=11,
        starts_at=starts_at,
        sequence=2,
        change=change,
        customer_has_email=email,
        actor=Actor.INSTALLER,
        now=NOW,
    )


def test_booking_records_resets_the_reminder_and_invites_the_customer():
    starts_at = NOW + timedelta(days=3)
    result = changed("booked", starts_at=starts_at)
    assert result.events == ()
    assert result.effects == (
        Record(
            7,
            "site_visit_booked",
            Actor.INSTALLER,
            {"starts_at": starts_at.isoformat(), "sequence": 2},
        ),
        CancelTimers(7, ("visit_reminder",)),
        SetTimer(
            "visit_reminder",
            starts_at - timedelta(days=1),
            lead_id=7,
            installer_id=3,
            subject_id=11,
        ),
        QueueEmail(
            "site_visit", lead_id=7, installer_id=3, subject_id=11, data={"change": "booked"}
        ),
    )


def test_a_visit_within_a_day_gets_no_reminder():
    result = changed("moved", starts_at=NOW + timedelta(hours=20))
    assert not [e for e in result.effects if isinstance(e, SetTimer)]
    assert result.effects[-1].data == {"change": "moved"}


def test_cancelling_sets_no_reminder_and_sends_the_cancellation():
    result = changed("cancelled")
    assert [type(e) for e in result.effects] == [Record, CancelTimers, QueueEmail]
    assert result.effects[0].type == "site_visit_cancelled"
    assert result.effects[-1].data == {"change": "cancelled"}


def test_a_customer_without_email_is_noted_not_mailed():
    result = changed("booked", email=False)
    assert not [e for e in result.effects if isinstance(e, QueueEmail)]
    assert result.effects[-1] == Record(
        7, "site_visit_not_sent", data={"reason": "customer has no email"}
    )


def test_the_reminder_goes_to_both_then_is_recorded():
    result = visit_reminder(lead_id=7, installer_id=3, visit_id=11, customer_email="c@example.org")
    emails = [e for e in result.effects if isinstance(e, QueueEmail)]
    assert [(e.to, e.data["for"]) for e in emails] == [
        ("c@example.org", "customer"),
        (None, "installer"),
    ]
    assert result.effects[-1] == Record(7, "reminder", data={"kind": "site_visit"})


def test_the_reminder_without_a_customer_address_goes_to_the_installer_only():
    result = visit_reminder(lead_id=7, installer_id=3, visit_id=11, customer_email=None)
    emails = [e for e in result.effects if isinstance(e, QueueEmail)]
    assert [e.data["for"] for e in emails] == ["installer"]
