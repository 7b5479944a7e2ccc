"""Site visits: the installer books an appointment at the customer's; the customer gets a
confirmation in their language with an iCalendar invitation; both are reminded the day before;
moving or cancelling sends an updated or cancelled invitation (same UID, higher SEQUENCE)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.domain import lead as states
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.domain.visit import visit_changed, visit_reminder
from mailflow.models import Actor, Installer, Lead, SiteVisit

BOOKABLE = states.BOOKABLE


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
            errors["date"] = "must be later than now"
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
    _announce(session, lead, installer, visit, change, actor=actor, now=now, settings=settings)
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
    _announce(session, lead, installer, visit, "cancelled", actor=actor, now=now, settings=settings)
    return visit


def _customer_address(lead: Lead) -> str | None:
    parts = [lead.street, " ".join(p for p in (lead.postcode, lead.city) if p)]
    return ", ".join(p for p in parts if p) or None


def _announce(
    session: Session,
    lead: Lead,
    installer: Installer,
    visit: SiteVisit,
    change: str,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    """The visit row has changed: the timeline, the reminder timer and the customer follow."""
    UnitOfWork(session, settings, now).apply(
        visit_changed(
            lead_id=lead.id,
            installer_id=installer.id,
            visit_id=visit.id,
            starts_at=visit.starts_at,
            sequence=visit.sequence,
            change=change,
            customer_has_email=bool(lead.email),
            actor=actor,
            now=now,
        )
    )


def _visit_reminder(session: Session, timer, at: datetime, settings: Settings) -> None:
    visit = session.get(SiteVisit, timer.subject_id)
    if visit is None or visit.cancelled_at is not None:
        return
    lead = session.get(Lead, visit.lead_id)
    if lead.assigned_installer_id != visit.installer_id:
        return
    UnitOfWork(session, settings, at).apply(
        visit_reminder(
            lead_id=lead.id,
            installer_id=visit.installer_id,
            visit_id=visit.id,
            customer_email=lead.email,
            starts_at=visit.starts_at,
            now=at,
        )
    )
