"""Site visits: the installer books an appointment at the customer's; the customer gets a
confirmation in their language with an iCalendar invitation; both are reminded the day before;
moving or cancelling sends an updated or cancelled invitation (same UID, higher SEQUENCE)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.emails import customer_language
from mailflow.config import Settings
from mailflow.domain import lead as states
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.i18n import gettext
from mailflow.infra import timers
from mailflow.leads.service import add_event
from mailflow.models import Actor, Installer, Lead, SiteVisit
from mailflow.outbound import emails
from mailflow.outbound.emails import N_
from mailflow.outbound.outbox import queue_email

BOOKABLE = states.BOOKABLE
VISIT_TIMERS = ("visit_reminder",)


def parse_visit_form(form: dict, *, timezone: str, now: datetime) -> dict:
    """date + time (installer's local time) → aware start; raises StepInvalid per field."""
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(str(form.get("date") or "").strip())
    except ValueError:
        errors["date"] = "must be a date (YYYY-MM-DD)"
        day = None
    try:
        moment = time.fromisoformat(str(form.get("time") or "").strip())
    except ValueError:
        errors["time"] = "must be a time (HH:MM)"
        moment = None
    try:
        duration = int(str(form.get("duration") or "60"))
        if not 15 <= duration <= 600:
            raise ValueError
    except ValueError:
        errors["duration"] = "must be between 15 and 600 minutes"
        duration = 60
    starts = None
    if day and moment:
        starts = datetime.combine(day, moment, tzinfo=ZoneInfo(timezone))
        if starts <= now:
            errors["date"] = "must be in the future"
    if errors:
        raise StepInvalid(errors)
    return {
        "starts_at": starts,
        "duration": duration,
        "address": str(form.get("address") or "").strip()[:500] or None,
        "note": str(form.get("note") or "").strip()[:2000] or None,
    }


def current_visit(session: Session, lead_id: int) -> SiteVisit | None:
    return session.scalar(
        select(SiteVisit)
        .where(SiteVisit.lead_id == lead_id, SiteVisit.cancelled_at.is_(None))
        .order_by(SiteVisit.id.desc())
        .limit(1)
    )


def book_visit(
    session: Session,
    lead: Lead,
    installer: Installer,
    form: dict,
    *,
    now: datetime,
    settings: Settings,
    actor: Actor = Actor.INSTALLER,
) -> SiteVisit:
    """Book, or move the booked visit (the lead is locked by the caller)."""
    if lead.assigned_installer_id != installer.id or lead.status not in BOOKABLE:
        raise NotYours()
    data = parse_visit_form(form, timezone=installer.timezone, now=now)
    visit = current_visit(session, lead.id)
    change = "moved" if visit else "booked"
    if visit is None:
        domain = settings.from_address.rpartition("@")[2] or "localhost"
        visit = SiteVisit(
            lead_id=lead.id,
            installer_id=installer.id,
            sequence=0,
            uid=f"visit-{lead.id}-{secrets.token_hex(8)}@{domain}",
            created_at=now,
        )
        session.add(visit)
    else:
        visit.sequence += 1
    visit.starts_at = data["starts_at"]
    visit.duration_minutes = data["duration"]
    visit.address = data["address"] or _customer_address(lead)
    visit.note = data["note"]
    visit.updated_at = now
    session.flush()
    installer.last_action_at = now
    add_event(
        session,
        lead,
        f"site_visit_{change}",
        at=now,
        actor=actor,
        starts_at=visit.starts_at.isoformat(),
        sequence=visit.sequence,
    )
    timers.cancel(session, lead_id=lead.id, kinds=VISIT_TIMERS, now=now)
    reminder_at = visit.starts_at - timedelta(days=1)
    if reminder_at > now:
        timers.schedule(
            session,
            "visit_reminder",
            reminder_at,
            lead_id=lead.id,
            installer_id=installer.id,
            subject_id=visit.id,
            now=now,
        )
    _notify_customer(session, lead, installer, visit, change, now=now, settings=settings)
    return visit


def cancel_visit(
    session: Session,
    lead: Lead,
    installer: Installer,
    *,
    now: datetime,
    settings: Settings,
    actor: Actor = Actor.INSTALLER,
) -> SiteVisit | None:
    visit = current_visit(session, lead.id)
    if visit is None or visit.installer_id != installer.id:
        return None
    visit.sequence += 1
    visit.cancelled_at = visit.updated_at = now
    add_event(
        session,
        lead,
        "site_visit_cancelled",
        at=now,
        actor=actor,
        starts_at=visit.starts_at.isoformat(),
        sequence=visit.sequence,
    )
    timers.cancel(session, lead_id=lead.id, kinds=VISIT_TIMERS, now=now)
    _notify_customer(session, lead, installer, visit, "cancelled", now=now, settings=settings)
    return visit


def _customer_address(lead: Lead) -> str | None:
    parts = [lead.street, " ".join(p for p in (lead.postcode, lead.city) if p)]
    return ", ".join(p for p in parts if p) or None


def invitation(
    visit: SiteVisit, lead: Lead, installer: Installer, *, language: str, method: str, now: datetime
) -> str:
    """The iCalendar text (RFC 5545/5546): times in UTC, so every client shows the right hour."""
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


def _notify_customer(
    session: Session,
    lead: Lead,
    installer: Installer,
    visit: SiteVisit,
    change: str,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    if not lead.email:
        add_event(session, lead, "site_visit_not_sent", at=now, reason="customer has no email")
        return
    language = customer_language(lead)
    method = "CANCEL" if change == "cancelled" else "REQUEST"
    ics = invitation(visit, lead, installer, language=language, method=method, now=now)
    spec = emails.site_visit_email(
        lead, installer, visit, change=change, language=language, ics=ics, method=method
    )
    queue_email(session, spec, now=now, settings=settings)


def _visit_reminder(session: Session, timer, at: datetime, settings: Settings) -> None:
    visit = session.get(SiteVisit, timer.subject_id)
    if visit is None or visit.cancelled_at is not None:
        return
    lead = session.get(Lead, visit.lead_id)
    installer = session.get(Installer, visit.installer_id)
    if lead.assigned_installer_id != installer.id:
        return
    if lead.email:
        queue_email(
            session,
            emails.visit_reminder_email(
                lead,
                installer,
                visit,
                to=lead.email,
                language=customer_language(lead),
                for_installer=False,
            ),
            now=at,
            settings=settings,
        )
    queue_email(
        session,
        emails.visit_reminder_email(
            lead,
            installer,
            visit,
            to=installer.email,
            language=emails.installer_language(installer),
            for_installer=True,
        ),
        now=at,
        settings=settings,
    )
    add_event(session, lead, "reminder", at=at, kind="site_visit")
