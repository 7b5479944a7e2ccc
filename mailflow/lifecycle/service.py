"""Recording progress, and the timers that keep a held lead moving (PRODUCT.md §5).

- No status within 2 business days of acceptance → reminder with the status links; still
  nothing 2 business days later → the reservation lapses: released, rotated, installer told.
- ``follow_up`` date reached → reminder at 09:00 installer time.
- Leads still ``offered``/``accepted``/``contact_attempted``/``first_contact`` 8 weeks after
  creation → ``expired``.
- No sign-in and no link action for 8 weeks → installer deactivated and told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.domain import lead as states
from mailflow.domain import offer as offer_rules
from mailflow.domain.calendar import add_business_days
from mailflow.domain.effects import CancelTimers, Outcome, QueueEmail, Record, SetTimer, outcome
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.domain.events import LeadAccepted, LeadAssigned, StatusRecorded
from mailflow.domain.lead import PROGRESS_TIMERS, RELEASE
from mailflow.i18n import parse_number
from mailflow.models import Actor, Installer, Lead, LeadStatus, Offer, OfferStatus, Timer
from mailflow.outbound.emails import N_
from mailflow.routing.offers import lock_lead

REMINDER_AFTER_BUSINESS_DAYS = 2
LAPSE_AFTER_REMINDER_BUSINESS_DAYS = 2
EXPIRE_AFTER = timedelta(weeks=8)
DEACTIVATE_AFTER = timedelta(weeks=8)
FOLLOW_UP_HOUR = time(9, 0)
DIGEST_EVERY = timedelta(days=7)


# ------------------------------------------------------------------ validation (pure) ------
def _parse_date(value: str) -> date:
    return date.fromisoformat(value.strip())


def validate_step(step: str, form: dict, *, today: date, language: str = "en") -> dict:
    """Clean the fields a step needs; raises StepInvalid naming each bad field. Amounts are
    read as written in ``language`` (``12.500,50`` in German, ``12 500,50`` in French)."""
    errors: dict[str, str] = {}
    data: dict = {}
    for name in states.REQUIRED_FIELDS.get(step, ()):
        if not str(form.get(name) or "").strip():
            errors[name] = "required"
    if step == LeadStatus.QUOTE_SENT and "amount" not in errors:
        try:
            amount = parse_number(str(form["amount"]), language)
            if not amount.is_finite() or amount <= 0:
                raise InvalidOperation
            data["amount"] = float(amount)
        except (InvalidOperation, ValueError):
            errors["amount"] = "must be a positive number"
        currency = str(form.get("currency") or "EUR").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            errors["currency"] = "must be a 3-letter currency code"
        data["currency"] = currency
        data["approved"] = str(form.get("approved") or "").lower() in ("1", "yes", "true", "on")
        products = str(form.get("products") or "").strip()
        if products:
            data["products"] = products[:500]
    if step in (LeadStatus.INSTALLATION_SCHEDULED, LeadStatus.FOLLOW_UP, LeadStatus.INSTALLED):
        raw = str(form.get("date") or "").strip()
        if raw:
            try:
                day = _parse_date(raw)
                if step == LeadStatus.FOLLOW_UP and day <= today:
                    errors["date"] = "must be in the future"
                data["date"] = day.isoformat()
            except ValueError:
                errors["date"] = "must be a date (YYYY-MM-DD)"
    for name in ("note", "reason"):
        if name in states.OPTIONAL_FIELDS.get(step, ()) and str(form.get(name) or "").strip():
            data[name] = str(form[name]).strip()[:2000]
    if errors:
        raise StepInvalid(errors)
    return data


# How the installer reached the customer (the Q CELLS status form's "type de contact").
CONTACT_TYPES = ("phone", "email", "visit", "other")


def validate_contact(form: dict, *, today: date) -> dict:
    """The contact a status change records: its type (optional, one of CONTACT_TYPES) and its
    day (today in the installer's zone unless given; never in the future). Raises StepInvalid
    naming the bad field."""
    kind = str(form.get("contact_type") or "").strip()
    raw = str(form.get("contact_date") or "").strip()
    if not kind and not raw:
        return {}
    errors: dict[str, str] = {}
    if kind and kind not in CONTACT_TYPES:
        errors["contact_type"] = "must be a contact type"
    day = today
    if raw:
        try:
            day = _parse_date(raw)
        except ValueError:
            errors["contact_date"] = "must be a date (YYYY-MM-DD)"
        else:
            if day > today:
                errors["contact_date"] = "must not be in the future"
    if errors:
        raise StepInvalid(errors)
    return {**({"contact_type": kind} if kind else {}), "contact_date": day.isoformat()}


def _validate(step: str, form: dict, *, today: date, language: str = "en") -> tuple[dict, dict]:
    """The step's fields and, except when giving the lead back, the contact (kept apart: the
    contact goes to the timeline, not to the lead's progress); all errors at once."""
    errors: dict[str, str] = {}
    found: list[dict] = []
    checks = [lambda: validate_step(step, form, today=today, language=language)]
    if step != RELEASE:
        checks.append(lambda: validate_contact(form, today=today))
    for check in checks:
        try:
            found.append(check())
        except StepInvalid as invalid:
            errors.update(invalid.errors)
    if errors:
        raise StepInvalid(errors)
    return found[0], (found[1] if len(found) > 1 else {})


# ------------------------------------------------------------------ recording --------------
def record_status(
    session: Session,
    lead: Lead,
    installer: Installer,
    step: str,
    form: dict,
    *,
    now: datetime,
    settings: Settings,
    actor: Actor = Actor.INSTALLER,
    via: str = "link",
    language: str = "en",
) -> Lead:
    """The installer records a step on a lead they hold (the lead is locked by the caller);
    ``language`` is the one the form was filled in (how its numbers are written)."""
    if (
        lead.assigned_installer_id != installer.id
        or lead.status not in states.INSTALLER_TRANSITIONS
    ):
        raise NotYours()
    states.check_installer_step(lead.status, step)
    tz = ZoneInfo(installer.timezone)
    data, contact = _validate(step, form, today=now.astimezone(tz).date(), language=language)
    installer.last_action_at = now
    uow = UnitOfWork(session, settings, now)
    stop = CancelTimers(lead.id, PROGRESS_TIMERS)
    if step == RELEASE:
        recorded = Record(lead.id, "status", actor, {"status": RELEASE, "via": via, **data})
        uow.apply(
            outcome(stop, recorded)
            + states.release(
                lead,
                at=now,
                actor=actor,
                reason=data.get("reason") or "given back by the installer",
            )
        )
        return lead
    previous = lead.status
    states.move(lead, LeadStatus(step), by=Actor.INSTALLER)
    lead.status_changed_at, lead.updated_at = now, now
    if lead.first_contact_at is None:  # the speed-to-lead figure (#20)
        lead.first_contact_at = now
    progress = dict(lead.progress or {})
    if step == LeadStatus.QUOTE_SENT:
        progress["quote"] = data
    elif step in (LeadStatus.INSTALLATION_SCHEDULED, LeadStatus.INSTALLED) and data.get("date"):
        progress["installation_date"] = data["date"]
    elif step == LeadStatus.FOLLOW_UP:
        progress["follow_up"] = data
    elif step == LeadStatus.FAILED:
        progress["failed_reason"] = data.get("reason")
    lead.progress = progress
    recorded = Record(
        lead.id,
        "status",
        actor,
        {"status": str(step), "previous": str(previous), "via": via, **data, **contact},
    )
    follow_up = ()
    if step == LeadStatus.FOLLOW_UP:
        day = date.fromisoformat(data["date"])
        follow_up = (
            SetTimer(
                "follow_up_reminder",
                datetime.combine(day, FOLLOW_UP_HOUR, tzinfo=tz),
                lead_id=lead.id,
                installer_id=installer.id,
                data={"note": data.get("note")},
            ),
        )
    uow.apply(outcome(stop, recorded, *follow_up, StatusRecorded(lead.id, installer.id, str(step))))
    return lead


# ------------------------------------------------------------------ after acceptance -------
def start_reminders(uow: UnitOfWork, event: LeadAccepted | LeadAssigned) -> Outcome:
    """Reaction: no status within two business days of acceptance → a reminder."""
    installer = uow.session.get(Installer, event.installer_id)
    due = add_business_days(
        uow.now, REMINDER_AFTER_BUSINESS_DAYS, installer.country, installer.timezone
    )
    return outcome(
        SetTimer("status_reminder", due, lead_id=event.lead_id, installer_id=installer.id)
    )


# The timers whose handlers act only while the installer still holds the lead (``_held_by``).
HELD_LEAD_TIMERS = frozenset({"status_reminder", "reservation_lapse", "follow_up_reminder"})
_HELD = "mailflow.lifecycle.held_leads"  # session.info: lead id -> (lead, installer) or None


def lock_held_leads(session: Session, claimed: Sequence[Timer]) -> None:
    """The leads of a group's ``HELD_LEAD_TIMERS`` (locked, in id order: no deadlock between
    two groups) with their installers, read in one statement before their handlers run (#21).
    ``_held_by`` then finds them in the session, no handler queries, and the group's rows
    (tokens, emails, events) are written together, a few statements for the whole group."""
    lead_ids = sorted({t.lead_id for t in claimed if t.kind in HELD_LEAD_TIMERS and t.lead_id})
    if not lead_ids:
        return
    query = (
        select(Lead, Installer)
        .outerjoin(Installer, Installer.id == Lead.assigned_installer_id)
        .where(Lead.id.in_(lead_ids))
        .order_by(Lead.id)
    )
    if is_postgres(session):
        query = query.with_for_update(of=Lead)
    held = session.info.setdefault(_HELD, {})
    held.update(dict.fromkeys(lead_ids))  # None: no such lead
    for lead, installer in session.execute(query):
        held[lead.id] = (lead, installer)  # held here: the session keeps its objects weakly


def _held_by(session: Session, timer: Timer, wanted: set) -> tuple[Lead, Installer] | None:
    """The timer's lead (locked) and installer, if the installer still holds the lead in a
    ``wanted`` status: read with the timer's group (``lock_held_leads``), or now."""
    if timer.lead_id not in session.info.get(_HELD, {}):
        lock_held_leads(session, [timer])
    row = session.info.get(_HELD, {}).get(timer.lead_id)
    if row is None:
        return None
    lead, installer = row
    if lead.assigned_installer_id != timer.installer_id or lead.status not in wanted:
        return None
    if installer is None or installer.id != timer.installer_id:  # assigned since the read
        installer = session.get(Installer, timer.installer_id)
    return lead, installer


def _status_reminder(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.ACCEPTED})
    if held is None:
        return
    lead, installer = held
    reason = N_(
        "You accepted lead #%(ref)s two business days ago and have not "
        "recorded any progress yet. Without news within two more "
        "business days, the lead goes to another installer."
    )
    due = add_business_days(
        at, LAPSE_AFTER_REMINDER_BUSINESS_DAYS, installer.country, installer.timezone
    )
    who = {"lead_id": lead.id, "installer_id": installer.id}
    UnitOfWork(session, settings, at).apply(
        outcome(
            QueueEmail("reminder", **who, data={"reason": reason}),
            Record(lead.id, "reminder", data={"kind": "no_status", "installer": installer.email}),
            SetTimer("reservation_lapse", due, **who),
        )
    )


def _reservation_lapse(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.ACCEPTED})
    if held is None:
        return
    lead, installer = held
    lapsed = outcome(QueueEmail("reservation_lapsed", lead_id=lead.id, installer_id=installer.id))
    UnitOfWork(session, settings, at).apply(
        lapsed
        + states.release(
            lead,
            at=at,
            actor=Actor.SYSTEM,
            reason="reservation lapsed: no progress recorded within two business days of the "
            "reminder",
        )
    )


def _follow_up_reminder(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.FOLLOW_UP})
    if held is None:
        return
    lead, installer = held
    reason = N_("You asked to be reminded of lead #%(ref)s today.")
    note = (timer.data or {}).get("note")
    UnitOfWork(session, settings, at).apply(
        outcome(
            QueueEmail(
                "reminder",
                lead_id=lead.id,
                installer_id=installer.id,
                data={"reason": reason, "note": note},
            ),
            Record(lead.id, "reminder", data={"kind": "follow_up", "installer": installer.email}),
        )
    )


# ------------------------------------------------------------------ query sweeps -----------
def expire_stale_leads(settings: Settings, at: datetime, *, batch: int = 500) -> int:

    done = 0
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(Lead.id)
                .where(Lead.status.in_(states.EXPIRING), Lead.created_at <= at - EXPIRE_AFTER)
                .order_by(Lead.id)
                .limit(batch)
            )
        )
    for lead_id in ids:
        with session_scope(settings) as session:
            lead = lock_lead(session, lead_id)
            if lead is None or lead.status not in states.EXPIRING:
                continue
            previous = lead.status
            for offer in session.scalars(
                select(Offer).where(Offer.lead_id == lead.id, Offer.status == OfferStatus.OFFERED)
            ):
                offer_rules.move(offer, OfferStatus.WITHDRAWN)
                offer.answered_at = at
            states.move(lead, LeadStatus.EXPIRED, by=Actor.SYSTEM)
            lead.status_changed_at, lead.updated_at = at, at
            UnitOfWork(session, settings, at).apply(
                outcome(
                    CancelTimers(lead.id, PROGRESS_TIMERS),
                    Record(
                        lead.id,
                        "expired",
                        data={
                            "previous": str(previous),
                            "reason": "8 weeks after creation without progress",
                        },
                    ),
                )
            )
            done += 1
    return done


def deactivate_silent_installers(settings: Settings, at: datetime) -> int:

    done = 0
    with session_scope(settings) as session:
        uow = UnitOfWork(session, settings, at)
        silent = list(
            session.scalars(
                select(Installer).where(
                    Installer.active.is_(True),
                    func.coalesce(Installer.last_action_at, Installer.created_at)
                    <= at - DEACTIVATE_AFTER,
                )
            )
        )
        for installer in silent:
            # Claim: only the scheduler whose update changed the row tells the installer.
            claimed = session.execute(
                update(Installer)
                .where(Installer.id == installer.id, Installer.active.is_(True))
                .values(active=False, deactivated_at=at)
            ).rowcount
            if claimed != 1:
                continue
            uow.apply(outcome(QueueEmail("account_deactivated", installer_id=installer.id)))
            done += 1
    return done


def send_digests(settings: Settings, at: datetime) -> int:
    """Once a week, each installer with leads waiting on them gets a summary (opt-out link)."""

    sent = 0
    with session_scope(settings) as session:
        uow = UnitOfWork(session, settings, at)
        due = list(
            session.scalars(
                select(Installer).where(
                    Installer.active.is_(True),
                    Installer.digest_opt_out.is_(False),
                    or_(
                        Installer.last_digest_at.is_(None),
                        Installer.last_digest_at <= at - DIGEST_EVERY,
                    ),
                )
            )
        )
        for installer in due:
            waiting = list(
                session.scalars(
                    select(Lead)
                    .where(
                        Lead.assigned_installer_id == installer.id,
                        Lead.status.in_(
                            [LeadStatus.ACCEPTED, *states.IN_PROGRESS, LeadStatus.FOLLOW_UP]
                        ),
                    )
                    .order_by(Lead.id)
                )
            )
            offers = list(
                session.scalars(
                    select(Offer).where(
                        Offer.installer_id == installer.id, Offer.status == OfferStatus.OFFERED
                    )
                )
            )
            claimed = session.execute(
                update(Installer)
                .where(
                    Installer.id == installer.id,
                    or_(
                        Installer.last_digest_at.is_(None),
                        Installer.last_digest_at <= at - DIGEST_EVERY,
                    ),
                )
                .values(last_digest_at=at)
            ).rowcount
            if claimed != 1:
                continue  # another scheduler sends this one
            if not waiting and not offers:
                continue
            uow.apply(
                outcome(
                    QueueEmail(
                        "digest",
                        installer_id=installer.id,
                        data={
                            "lead_ids": tuple(lead.id for lead in waiting),
                            "open_offers": len(offers),
                        },
                    )
                )
            )
            sent += 1
    return sent
