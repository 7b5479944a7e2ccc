"""Site visits: booking from a status link, the customer's invitation (.ics), moving,
cancelling, and the reminders the day before."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from fastapi.testclient import TestClient

from mailflow.db import session_scope
from mailflow.lifecycle.visits import book_visit, cancel_visit
from mailflow.models import Installer
from mailflow.routing.offers import lock_lead
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.lifecycle import accepted_lead
from support.mail import email_links
from support.offers import csrf_of, emails_to, lead
from support.people import GOLD_PARIS

PARIS = ZoneInfo("Europe/Paris")
CUSTOMER = "claire@example.fr"


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


def invitations(settings) -> list[icalendar.Event]:
    events = []
    for row in emails_to(settings, CUSTOMER, "site_visit"):
        msg = email.message_from_bytes(row.raw, policy=email.policy.default)
        (part,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
        cal = icalendar.Calendar.from_ical(part.get_content())
        assert cal["METHOD"] in ("REQUEST", "CANCEL")
        (event,) = cal.walk("VEVENT")
        events.append((cal["METHOD"], event, row))
    return events


def test_book_from_a_status_link_move_and_cancel(settings, worker, client):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    with session_scope(settings) as s:
        s.query(Installer).filter_by(email=GOLD_PARIS).one().phone = "+33 1 23 45 67 89"
    book = email_links(settings)["Planifier une visite technique"]
    # The page is used the day after acceptance, whatever today's date is.
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=True):
        page = client.get(book)
        assert page.status_code == 200 and 'type="time"' in page.text
        done = client.post(
            book,
            data={
                "csrf_token": csrf_of(page.text),
                "date": "2026-12-03",
                "time": "14:30",
                "duration": "90",
                "note": "Accès par la cour",
            },
        )
    assert done.status_code == 200, done.text
    ((method, event, row),) = invitations(settings)
    assert method == "REQUEST"
    # 14:30 in Paris on 3 December (CET, UTC+1) is 13:30 UTC.
    assert event.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
    assert event.decoded("dtend").astimezone(UTC) == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert int(event["SEQUENCE"]) == 0
    assert "Soleil Paris SARL" in str(event["SUMMARY"])
    assert "Quai de Valmy 167" in str(event["LOCATION"])
    # The customer's email is in the lead's language (French) with the company and phone.
    text = (
        email.message_from_bytes(row.raw, policy=email.policy.default)
        .get_body(("plain",))
        .get_content()
    )
    assert "Soleil Paris SARL" in text and "+33 1 23 45 67 89" in text and "14:30" in text
    uid = str(event["UID"])

    with session_scope(settings) as s:  # moved: same UID, SEQUENCE + 1
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        book_visit(
            s,
            row,
            installer,
            {"date": "2026-12-04", "time": "09:00"},
            now=datetime(2026, 11, 20, 10, 0, tzinfo=PARIS),
            settings=settings,
        )
    (_, first, _), (method, moved, _) = invitations(settings)
    assert method == "REQUEST" and str(moved["UID"]) == uid and int(moved["SEQUENCE"]) == 1
    assert moved.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)

    # The day before: both are reminded, once.
    run_sweep(settings, datetime(2026, 12, 3, 8, 59, tzinfo=PARIS))
    assert emails_to(settings, CUSTOMER, "site_visit_reminder") == []
    run_sweep(settings, datetime(2026, 12, 3, 9, 0, tzinfo=PARIS))
    run_sweep(settings, datetime(2026, 12, 3, 9, 5, tzinfo=PARIS))
    assert len(emails_to(settings, CUSTOMER, "site_visit_reminder")) == 1
    assert len(emails_to(settings, GOLD_PARIS, "site_visit_reminder")) == 1

    with session_scope(settings) as s:  # cancelled: same UID, SEQUENCE + 1, METHOD:CANCEL
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        cancel_visit(
            s, row, installer, now=datetime(2026, 12, 3, 10, 0, tzinfo=PARIS), settings=settings
        )
    method, cancelled, _ = invitations(settings)[-1]
    assert method == "CANCEL" and str(cancelled["UID"]) == uid
    assert int(cancelled["SEQUENCE"]) == 2 and str(cancelled["STATUS"]) == "CANCELLED"
    types = [e.type for e in lead(settings, lead_id).events]
    assert {"site_visit_booked", "site_visit_moved", "site_visit_cancelled"} <= set(types)


@time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), tick=True)
def test_a_visit_in_the_past_is_refused(settings, worker, client):
    accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    book = email_links(settings)["Planifier une visite technique"]
    page = client.get(book)
    refused = client.post(
        book, data={"csrf_token": csrf_of(page.text), "date": "2020-01-01", "time": "10:00"}
    )
    # In the installer's language (French), never the English validation code.
    assert (
        refused.status_code == 422 and "Choisissez une date et une heure à venir." in refused.text
    )
    assert "must be" not in refused.text
    assert invitations(settings) == []
