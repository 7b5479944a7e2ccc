"""The iCalendar invitation a site visit email carries (RFC 5545/5546)."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from mailflow.i18n import gettext
from mailflow.models import Installer, Lead, SiteVisit
from mailflow.outbound.emails import N_


def invitation(
    visit: SiteVisit, lead: Lead, installer: Installer, *, language: str, method: str, now: datetime
) -> str:
    """The iCalendar text: times in UTC, so every client shows the right hour."""
    cal = Calendar()
    cal.add("prodid", "-//mailflow//site visits//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", visit.uid)
    event.add("sequence", visit.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", visit.starts_at)
    event.add("dtend", visit.starts_at + timedelta(minutes=visit.duration_minutes))
    company = installer.company or installer.name
    event.add("summary", gettext(language, N_("Site visit: %(company)s"), company=company))
    description = [gettext(language, N_("Your installer: %(company)s"), company=company)]
    if installer.phone:
        description.append(gettext(language, N_("Phone: %(phone)s"), phone=installer.phone))
    if visit.note:
        description.append(visit.note)
    event.add("description", "\n".join(description))
    if visit.address:
        event.add("location", visit.address)
    organizer = vCalAddress(f"mailto:{installer.email}")
    organizer.params["cn"] = vText(company)
    event.add("organizer", organizer)
    if lead.email:
        attendee = vCalAddress(f"mailto:{lead.email}")
        attendee.params["cn"] = vText(lead.customer_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical().decode()
