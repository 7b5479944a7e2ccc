"""The iCalendar invitation a site visit email carries (RFC 5545/5546)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailflow.i18n import gettext
from mailflow.lazy import LazyModule
from mailflow.models import Installer, Lead, SiteVisit
from mailflow.outbound.emails import N_

# icalendar (~6 MB) loads with the first invitation, not in every worker (mailflow.lazy).
icalendar = LazyModule("icalendar")

# The VTIMEZONE describes the visit's zone this long before and after the visit (the offsets
# and daylight-saving changes of that span; a whole 1970-2038 history would bloat every mail).
ZONE_SPAN = timedelta(days=400)


def visit_zone(installer: Installer) -> ZoneInfo:
    """The visit's time zone: the installer's (the form takes their local time)."""
    try:
        return ZoneInfo(installer.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def invitation_method(*, cancelled: bool, for_installer: bool) -> str:
    """RFC 5546: the customer is invited (REQUEST, or CANCEL); the installer, who organises
    the visit and has nobody to answer, gets the event published into their calendar
    (PUBLISH, with STATUS:CANCELLED once cancelled)."""
    if for_installer:
        return "PUBLISH"
    return "CANCEL" if cancelled else "REQUEST"


def invitation(
    visit: SiteVisit,
    lead: Lead,
    installer: Installer,
    *,
    language: str,
    now: datetime,
    cancelled: bool = False,
    for_installer: bool = False,
) -> str:
    """The iCalendar text: DTSTART/DTEND in the visit's local time with its TZID, and the
    VTIMEZONE that defines it (so every client shows the right hour, also across a
    daylight-saving change). The customer's copy names the installer; the installer's copy
    (same UID and SEQUENCE: one event in both calendars) names the customer and their phone."""
    method = invitation_method(cancelled=cancelled, for_installer=for_installer)
    zone = visit_zone(installer)
    starts = visit.starts_at.astimezone(zone)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//mailflow//site visits//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = icalendar.Event()
    event.add("uid", visit.uid)
    event.add("sequence", visit.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=visit.duration_minutes))
    company = installer.company or installer.name
    if for_installer:
        customer = lead.customer_name or f"#{lead.id}"
        summary = gettext(language, N_("Site visit: %(company)s"), company=customer)
        description = [customer]
        if lead.phone:
            description.append(gettext(language, N_("Phone: %(phone)s"), phone=lead.phone))
    else:
        summary = gettext(language, N_("Site visit: %(company)s"), company=company)
        description = [gettext(language, N_("Your installer: %(company)s"), company=company)]
        if installer.phone:
            description.append(gettext(language, N_("Phone: %(phone)s"), phone=installer.phone))
    event.add("summary", summary)
    if visit.note:
        description.append(visit.note)
    event.add("description", "\n".join(description))
    if visit.address:
        event.add("location", visit.address)
    organizer = icalendar.vCalAddress(f"mailto:{installer.email}")
    organizer.params["cn"] = icalendar.vText(company)
    event.add("organizer", organizer)
    if lead.email and method != "PUBLISH":  # RFC 5546 3.2.1: a PUBLISH has no ATTENDEE
        attendee = icalendar.vCalAddress(f"mailto:{lead.email}")
        attendee.params["cn"] = icalendar.vText(lead.customer_name)
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    cal.add_component(event)
    # VTIMEZONE for the TZID used (none for UTC, which is written with "Z").
    cal.add_missing_timezones(
        first_date=(starts - ZONE_SPAN).date(), last_date=(starts + ZONE_SPAN).date()
    )
    return cal.to_ical().decode()
