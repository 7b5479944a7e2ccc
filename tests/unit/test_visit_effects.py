"""What a site visit change returns (no database: the Outcome is asserted as data)."""

from datetime import UTC, datetime, timedelta

from mailflow.domain.effects import CancelTimers, QueueEmail, Record, SetTimer
from mailflow.domain.statuses import Actor
from mailflow.domain.visit import still_worth_reminding, visit_changed, visit_reminder

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


def installer_copy(change: str) -> QueueEmail:
    return QueueEmail(
        "site_visit",
        lead_id=7,
        installer_id=3,
        subject_id=11,
        data={"change": change, "for": "installer"},
    )


def test_booking_records_resets_the_reminder_and_invites_customer_and_installer():
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
        installer_copy("booked"),
    )


def test_a_visit_within_a_day_gets_no_reminder():
    result = changed("moved", starts_at=NOW + timedelta(hours=20))
    assert not [e for e in result.effects if isinstance(e, SetTimer)]
    assert result.effects[-2].data == {"change": "moved"}
    assert result.effects[-1] == installer_copy("moved")


def test_cancelling_sets_no_reminder_and_sends_the_cancellation():
    result = changed("cancelled")
    assert [type(e) for e in result.effects] == [Record, CancelTimers, QueueEmail, QueueEmail]
    assert result.effects[0].type == "site_visit_cancelled"
    assert result.effects[-2].data == {"change": "cancelled"}
    assert result.effects[-1] == installer_copy("cancelled")


def test_a_customer_without_email_is_noted_not_mailed_and_the_installer_still_gets_a_copy():
    result = changed("booked", email=False)
    assert [e for e in result.effects if isinstance(e, QueueEmail)] == [installer_copy("booked")]
    assert result.effects[-2] == Record(
        7, "site_visit_not_sent", data={"reason": "customer has no email"}
    )


VISIT_AT = NOW + timedelta(days=1)


def reminder(customer_email: str | None, *, now=NOW):
    return visit_reminder(
        lead_id=7,
        installer_id=3,
        visit_id=11,
        customer_email=customer_email,
        starts_at=VISIT_AT,
        now=now,
    )


def test_the_reminder_goes_to_both_then_is_recorded():
    result = reminder("c@example.org")
    emails = [e for e in result.effects if isinstance(e, QueueEmail)]
    assert [(e.to, e.data["for"]) for e in emails] == [
        ("c@example.org", "customer"),
        (None, "installer"),
    ]
    assert result.effects[-1] == Record(7, "reminder", data={"kind": "site_visit"})


def test_the_reminder_without_a_customer_address_goes_to_the_installer_only():
    result = reminder(None)
    emails = [e for e in result.effects if isinstance(e, QueueEmail)]
    assert [e.data["for"] for e in emails] == ["installer"]


def test_a_late_timer_still_reminds_until_the_visit_begins():
    assert still_worth_reminding(happens_at=VISIT_AT, now=VISIT_AT - timedelta(minutes=1))
    assert not still_worth_reminding(happens_at=VISIT_AT, now=VISIT_AT)
    assert not still_worth_reminding(happens_at=VISIT_AT, now=VISIT_AT + timedelta(days=2))
    # Fired hours late but before the visit: both are still reminded.
    late = reminder("c@example.org", now=VISIT_AT - timedelta(hours=2))
    assert len([e for e in late.effects if isinstance(e, QueueEmail)]) == 2


def test_a_reminder_after_the_visit_sends_nothing_and_says_why():
    result = reminder("c@example.org", now=VISIT_AT + timedelta(hours=3))
    assert result.effects == (
        Record(
            7,
            "reminder_skipped",
            data={
                "kind": "site_visit",
                "reason": "the visit had passed",
                "starts_at": VISIT_AT.isoformat(),
            },
        ),
    )
    assert result.events == ()
