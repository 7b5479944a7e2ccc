"""What booking, moving or cancelling a site visit causes (pure: the caller changed the row)."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailflow.domain.effects import CancelTimers, Outcome, QueueEmail, Record, SetTimer, outcome
from mailflow.domain.statuses import Actor

VISIT_TIMERS = ("visit_reminder",)
REMIND_BEFORE = timedelta(days=1)
CHANGES = ("booked", "moved", "cancelled")


def visit_changed(
    *,
    lead_id: int,
    installer_id: int,
    visit_id: int,
    starts_at: datetime,
    sequence: int,
    change: str,
    customer_has_email: bool,
    actor: Actor,
    now: datetime,
) -> Outcome:
    """A timeline line, the day-before reminder (re)set unless cancelled or too late, the
    customer's invitation (or a note that the customer could not be told) and the installer's
    own copy of it (their calendar follows the booking, the move, the cancellation)."""
    if change not in CHANGES:
        raise ValueError(f"not a visit change: {change!r}")
    effects = [
        Record(
            lead_id,
            f"site_visit_{change}",
            actor,
            {"starts_at": starts_at.isoformat(), "sequence": sequence},
        ),
        CancelTimers(lead_id, VISIT_TIMERS),
    ]
    reminder_at = starts_at - REMIND_BEFORE
    if change != "cancelled" and reminder_at > now:
        effects.append(
            SetTimer(
                "visit_reminder",
                reminder_at,
                lead_id=lead_id,
                installer_id=installer_id,
                subject_id=visit_id,
            )
        )
    if customer_has_email:
        effects.append(
            QueueEmail(
                "site_visit",
                lead_id=lead_id,
                installer_id=installer_id,
                subject_id=visit_id,
                data={"change": change},
            )
        )
    else:
        effects.append(
            Record(lead_id, "site_visit_not_sent", data={"reason": "customer has no email"})
        )
    effects.append(
        QueueEmail(
            "site_visit",
            lead_id=lead_id,
            installer_id=installer_id,
            subject_id=visit_id,
            data={"change": change, "for": "installer"},
        )
    )
    return outcome(*effects)


def still_worth_reminding(*, happens_at: datetime, now: datetime) -> bool:
    """Does a reminder of something that happens at ``happens_at`` still make sense ``now``?
    Only before it happens: a timer that fires late (the scheduler was down, the database
    was unreachable) is dropped once its moment has passed, never sent after the fact."""
    return now < happens_at


def visit_reminder(
    *,
    lead_id: int,
    installer_id: int,
    visit_id: int,
    customer_email: str | None,
    starts_at: datetime,
    now: datetime,
) -> Outcome:
    """The day before: the customer (if they have an address) and the installer are reminded.
    A reminder that comes too late (the visit has begun or is over) sends nothing; the lead's
    timeline says why."""
    if not still_worth_reminding(happens_at=starts_at, now=now):
        return outcome(
            Record(
                lead_id,
                "reminder_skipped",
                data={
                    "kind": "site_visit",
                    "reason": "the visit had passed",
                    "starts_at": starts_at.isoformat(),
                },
            )
        )
    who = {"lead_id": lead_id, "installer_id": installer_id, "subject_id": visit_id}
    customer = (
        (QueueEmail("site_visit_reminder", **who, to=customer_email, data={"for": "customer"}),)
        if customer_email
        else ()
    )
    return outcome(
        *customer,
        QueueEmail("site_visit_reminder", **who, data={"for": "installer"}),
        Record(lead_id, "reminder", data={"kind": "site_visit"}),
    )
