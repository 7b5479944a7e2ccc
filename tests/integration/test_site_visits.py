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
from mailflow.models import Installer, LeadEvent, OutboxMessage
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


def calendar_part(row):
    """The raw MIME parsed back: the text/calendar part, its iCalendar and the message."""
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    (part,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part, icalendar.Calendar.from_ical(part.get_content()), msg


def invitations(settings, to: str = CUSTOMER) -> list[icalendar.Event]:
    events = []
    for row in emails_to(settings, to, "site_visit"):
        part, cal, _ = calendar_part(row)
        # RFC 6047: the part's Content-Type names its charset and the iTIP method.
        assert part.get_content_charset() == "utf-8"
        assert part.get_param("method") == str(cal["METHOD"])
        assert cal["METHOD"] in (("REQUEST", "CANCEL") if to == CUSTOMER else ("PUBLISH",))
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


def book(settings, lead_id: int, form: dict, now: datetime) -> None:
    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        book_visit(s, row, installer, form, now=now, settings=settings)


def test_the_installer_gets_their_own_invitation_in_their_language(settings, worker):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    with session_scope(settings) as s:  # a German-speaking installer; the customer is French
        installer = s.query(Installer).filter_by(email=GOLD_PARIS).one()
        installer.language = "de"
    booked_at = datetime(2026, 11, 20, 10, 0, tzinfo=PARIS)
    book(settings, lead_id, {"date": "2026-12-03", "time": "14:30", "note": "Hof"}, booked_at)

    ((method, event, row),) = invitations(settings, GOLD_PARIS)
    assert method == "PUBLISH" and str(event["STATUS"]) == "CONFIRMED"
    assert "ATTENDEE" not in event  # RFC 5546: a PUBLISH names no attendee
    assert row.subject == "Vor-Ort-Termin bestätigt: Claire Dubois"
    msg = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert msg["Subject"] == row.subject and msg["To"] == GOLD_PARIS
    text = msg.get_body(("plain",)).get_content()
    assert "Claire Dubois" in text and "14:30" in text
    assert "Telefon:" in text and "140347000" in text.replace(" ", "")  # the customer's phone
    assert "Vor-Ort-Termin: Claire Dubois" == str(event["SUMMARY"])
    # The customer's invitation, in French, is the same event (UID) as the installer's.
    ((_, customer_event, customer_row),) = invitations(settings)
    assert str(customer_event["UID"]) == str(event["UID"])
    assert customer_row.subject.startswith("Visite technique confirmée")

    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        cancel_visit(
            s, row, s.get(Installer, row.assigned_installer_id), now=booked_at, settings=settings
        )
    _, (method, cancelled, _) = invitations(settings, GOLD_PARIS)
    assert method == "PUBLISH" and str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["UID"]) == str(event["UID"]) and int(cancelled["SEQUENCE"]) == 1


def test_times_are_local_with_the_zone_defined_in_the_invitation(settings, worker):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    # 30 March 2027: the day after the change to summer time (CEST, UTC+2).
    book(
        settings,
        lead_id,
        {"date": "2027-03-30", "time": "09:00"},
        datetime(2026, 11, 20, tzinfo=PARIS),
    )
    for to in (CUSTOMER, GOLD_PARIS):
        (row,) = emails_to(settings, to, "site_visit")
        part, cal, _ = calendar_part(row)
        raw = part.get_content()
        assert "DTSTART;TZID=Europe/Paris:20270330T090000" in raw.replace("\r\n", "\n")
        assert "DTEND;TZID=Europe/Paris:20270330T100000" in raw.replace("\r\n", "\n")
        (zone,) = cal.walk("VTIMEZONE")
        assert str(zone["TZID"]) == "Europe/Paris"
        # The VTIMEZONE alone (not the system's zone database) gives the right instant.
        defined = zone.to_tz(lookup_tzid=False)
        local = datetime(2027, 3, 30, 9, 0, tzinfo=defined)
        assert local.astimezone(UTC) == datetime(2027, 3, 30, 7, 0, tzinfo=UTC)
        winter = datetime(2027, 3, 27, 9, 0, tzinfo=defined)
        assert winter.astimezone(UTC) == datetime(2027, 3, 27, 8, 0, tzinfo=UTC)


def test_a_reminder_that_fires_after_the_visit_is_dropped_and_noted(settings, worker):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    book(
        settings,
        lead_id,
        {"date": "2026-12-03", "time": "14:30"},
        datetime(2026, 11, 20, tzinfo=PARIS),
    )
    # The scheduler was down from before the reminder (2 December 14:30) until after the visit.
    run_sweep(settings, datetime(2026, 12, 3, 18, 0, tzinfo=PARIS))
    run_sweep(settings, datetime(2026, 12, 3, 18, 5, tzinfo=PARIS))
    assert emails_to(settings, CUSTOMER, "site_visit_reminder") == []
    assert emails_to(settings, GOLD_PARIS, "site_visit_reminder") == []
    with session_scope(settings) as s:
        skipped = [
            e.data
            for e in s.query(LeadEvent).filter_by(lead_id=lead_id).order_by(LeadEvent.id)
            if e.type == "reminder_skipped"
        ]
    assert skipped == [
        {
            "kind": "site_visit",
            "reason": "the visit had passed",
            "starts_at": datetime(2026, 12, 3, 13, 30, tzinfo=UTC).isoformat(),
        }
    ]


def test_a_late_reminder_on_the_day_itself_does_not_say_tomorrow(settings, worker):
    lead_id = accepted_lead(settings, datetime(2026, 11, 19, 15, 0, tzinfo=PARIS))
    book(
        settings,
        lead_id,
        {"date": "2026-12-03", "time": "14:30"},
        datetime(2026, 11, 20, tzinfo=PARIS),
    )
    run_sweep(settings, datetime(2026, 12, 3, 9, 0, tzinfo=PARIS))  # late, but before the visit
    (mail,) = emails_to(settings, CUSTOMER, "site_visit_reminder")
    assert not mail.subject.startswith("Demain") and "14:30" in mail.subject
    with session_scope(settings) as s:
        assert s.query(OutboxMessage).filter_by(template="site_visit_reminder").count() == 2
