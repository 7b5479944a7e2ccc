"""The reports' known data set (tests/integration/test_reports*.py): three installers, seven
leads (six in the first week of February 2026, one before), five offers in the range with every
outcome, status steps with quotes, two surveys. The expected figures are in the tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mailflow.app.reports.common import ReportFilters
from mailflow.db import session_scope
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
    Survey,
)

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
RANGE = {"start": "2026-02-01", "end": "2026-02-07"}
F = ReportFilters(start=date(2026, 2, 1), end=date(2026, 2, 7))


def _installer(s, name, tier, score, **extra) -> int:
    row = Installer(
        email=f"{name.lower()}@installers.example",
        name=name,
        country="FR",
        postcodes="75 69 13",
        tier=tier,
        score=score,
        **extra,
    )
    s.add(row)
    s.flush()
    return row.id


def add_lead(s, created, source, product, postcode, status, **extra) -> int:
    row = Lead(
        customer_name="Client",
        postcode=postcode,
        country="FR",
        source=source,
        product=product,
        status=status,
        created_at=created,
        updated_at=created,
        **extra,
    )
    s.add(row)
    s.flush()
    return row.id


def _offer(s, lead, installer, status, offered, answered=None) -> None:
    s.add(
        Offer(
            lead_id=lead,
            installer_id=installer,
            status=status,
            offered_at=offered,
            deadline=offered + timedelta(hours=24),
            answered_at=answered,
        )
    )


def _step(s, lead, at, status) -> None:
    s.add(
        LeadEvent(
            lead_id=lead, at=at, type="status", actor=Actor.INSTALLER, data={"status": status}
        )
    )


def seed(settings) -> dict[str, int]:
    """Six leads in the range (one before it), five offers, two surveys."""
    m = timedelta(minutes=1)
    with session_scope(settings) as s:
        a = _installer(s, "Alpha", "gold", 80.0)
        b = _installer(s, "Bravo", "silver", 55.5)
        c = _installer(s, "Charlie", "bronze", None, bounced_at=T0)
        quote = lambda amount: {"quote": {"amount": amount, "currency": "EUR"}}  # noqa: E731
        l1 = add_lead(
            s,
            T0,
            "calculator",
            "pv",
            "75011",
            LeadStatus.INSTALLED,
            accepted_at=T0 + 35 * m,
            assigned_installer_id=a,
            progress=quote(10000),
        )
        _offer(s, l1, a, OfferStatus.ACCEPTED, T0 + 5 * m, T0 + 35 * m)
        for day, status in enumerate(
            ["contact_attempted", "quote_sent", "order_placed", "installed"], start=1
        ):
            _step(s, l1, T0 + timedelta(days=day), status)
        t2 = T0 + timedelta(days=1)  # 3 February
        l2 = add_lead(s, t2, "calculator", "pv", "69001", LeadStatus.POOL)
        _offer(s, l2, b, OfferStatus.DECLINED, t2 + 5 * m, t2 + 65 * m)
        _offer(s, l2, a, OfferStatus.EXPIRED, t2 + 70 * m)
        t3 = T0 + timedelta(days=1, hours=1)
        l3 = add_lead(
            s,
            t3,
            "webhook",
            "heat_pump",
            "75002",
            LeadStatus.QUOTE_SENT,
            accepted_at=t3 + 90 * m,
            assigned_installer_id=a,
            progress=quote(5000.5),
        )
        _offer(s, l3, a, OfferStatus.ACCEPTED, t3, t3 + 90 * m)
        _step(s, l3, t3 + timedelta(hours=5), "quote_sent")
        t4 = T0 + timedelta(days=2)  # 4 February
        add_lead(
            s,
            t4 - timedelta(hours=1),
            "webhook",
            "heat_pump",
            "13001",
            LeadStatus.DUPLICATE,
            duplicate_of_id=l3,
        )
        add_lead(s, t4 + timedelta(hours=3), "email", None, "75001", LeadStatus.QUARANTINED)
        t6 = t4 + timedelta(hours=5)
        l6 = add_lead(
            s,
            t6,
            "calculator",
            "battery",
            "69002",
            LeadStatus.ACCEPTED,
            accepted_at=t6 + 10 * m,
            assigned_installer_id=b,
        )
        _offer(s, l6, b, OfferStatus.ACCEPTED, t6, t6 + 10 * m)
        # Before the range: counted nowhere.
        old = add_lead(
            s,
            T0 - timedelta(days=13),
            "calculator",
            "pv",
            "75003",
            LeadStatus.ACCEPTED,
            accepted_at=T0 - timedelta(days=13),
            assigned_installer_id=a,
        )
        _offer(s, old, a, OfferStatus.ACCEPTED, T0 - timedelta(days=13), T0 - timedelta(days=13))
        s.add(
            Survey(
                lead_id=l1,
                installer_id=a,
                submitted_at=T0 + timedelta(days=3),
                service=5,
                installation=4,
                communication=5,
            )
        )
        s.add(
            Survey(
                lead_id=l6,
                installer_id=b,
                submitted_at=T0 + timedelta(days=4),
                service=3,
                installation=3,
                communication=4,
            )
        )
    return {"a": a, "b": b, "c": c, "l1": l1, "l2": l2, "l3": l3, "l6": l6}
