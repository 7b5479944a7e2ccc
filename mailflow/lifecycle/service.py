"""Recording progress, and the timers that keep a held lead moving (PRODUCT.md §5).

- No status within 2 business days of acceptance → reminder with the status links; still
  nothing 2 business days later → the reservation lapses: released, rotated, installer told.
- ``follow_up`` date reached → reminder at 09:00 installer time.
- Leads still ``offered``/``accepted``/``contact_attempted``/``first_contact`` 8 weeks after
  creation → ``expired``.
- No sign-in and no link action for 8 weeks → installer deactivated and told.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain import lead as states
from mailflow.domain import offer as offer_rules
from mailflow.domain.calendar import add_business_days
from mailflow.domain.lead import RELEASE
from mailflow.i18n import gettext
from mailflow.leads.service import add_event
from mailflow.lifecycle import timers
from mailflow.links import tokens
from mailflow.models import Actor, Installer, Lead, LeadStatus, Offer, OfferStatus, Timer
from mailflow.outbound import emails
from mailflow.outbound.emails import N_
from mailflow.outbound.outbox import queue_email
from mailflow.routing.offers import lock_lead, release_to_rotation

REMINDER_AFTER_BUSINESS_DAYS = 2
LAPSE_AFTER_REMINDER_BUSINESS_DAYS = 2
EXPIRE_AFTER = timedelta(weeks=8)
DEACTIVATE_AFTER = timedelta(weeks=8)
FOLLOW_UP_HOUR = time(9, 0)
DIGEST_EVERY = timedelta(days=7)
PROGRESS_TIMERS = ("status_reminder", "reservation_lapse", "follow_up_reminder")

STEP_LABELS = {
    LeadStatus.CONTACT_ATTEMPTED: N_("Contact attempted"),
    LeadStatus.FIRST_CONTACT: N_("First contact made"),
    LeadStatus.QUOTE_SENT: N_("Quote sent"),
    LeadStatus.ORDER_PLACED: N_("Order placed"),
    LeadStatus.INSTALLATION_SCHEDULED: N_("Installation scheduled"),
    LeadStatus.INSTALLED: N_("Installed"),
    LeadStatus.FAILED: N_("Failed: the customer does not want to go on"),
    LeadStatus.FOLLOW_UP: N_("Remind me later"),
    RELEASE: N_("Give the lead back"),
    "visit": N_("Book a site visit"),
}
VISIT = "visit"


class NotYours(Exception):
    """The lead is not (or no longer) held by this installer."""


class StepInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def step_label(step: str, language: str) -> str:
    return gettext(language, STEP_LABELS[step])


# ------------------------------------------------------------------ validation (pure) ------
def _parse_date(value: str) -> date:
    return date.fromisoformat(value.strip())


def validate_step(step: str, form: dict, *, today: date) -> dict:
    """Clean the fields a step needs; raises StepInvalid naming each bad field."""
    errors: dict[str, str] = {}
    data: dict = {}
    for name in states.REQUIRED_FIELDS.get(step, ()):
        if not str(form.get(name) or "").strip():
            errors[name] = "required"
    if step == LeadStatus.QUOTE_SENT and "amount" not in errors:
        try:
            amount = Decimal(str(form["amount"]).replace(" ", "").replace(",", "."))
            if amount <= 0:
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
) -> Lead:
    """The installer records a step on a lead they hold (the lead is locked by the caller)."""
    if (
        lead.assigned_installer_id != installer.id
        or lead.status not in states.INSTALLER_TRANSITIONS
    ):
        raise NotYours()
    states.check_installer_step(lead.status, step)
    tz = ZoneInfo(installer.timezone)
    data = validate_step(step, form, today=now.astimezone(tz).date())
    installer.last_action_at = now
    timers.cancel(session, lead_id=lead.id, kinds=PROGRESS_TIMERS, now=now)
    if step == RELEASE:
        add_event(session, lead, "status", at=now, actor=actor, status=RELEASE, via=via, **data)
        release_to_rotation(
            session,
            lead,
            now=now,
            settings=settings,
            actor=actor,
            reason=data.get("reason") or "given back by the installer",
        )
        return lead
    previous = lead.status
    states.move(lead, LeadStatus(step), by=Actor.INSTALLER)
    lead.status_changed_at, lead.updated_at = now, now
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
    add_event(
        session,
        lead,
        "status",
        at=now,
        actor=actor,
        status=str(step),
        previous=str(previous),
        via=via,
        **data,
    )
    if step == LeadStatus.FOLLOW_UP:
        day = date.fromisoformat(data["date"])
        due = datetime.combine(day, FOLLOW_UP_HOUR, tzinfo=tz)
        timers.schedule(
            session,
            "follow_up_reminder",
            due,
            lead_id=lead.id,
            installer_id=installer.id,
            data={"note": data.get("note")},
            now=now,
        )
    from mailflow.lifecycle import hooks

    hooks.status_recorded(session, lead, installer, str(step), now=now, settings=settings)
    return lead


# ------------------------------------------------------------------ links ------------------
def status_links(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> list[dict]:
    """One signed link per sensible next step (status links work while the lead is theirs)."""
    language = emails.installer_language(installer)
    current = lead.status if lead.status in states.INSTALLER_TRANSITIONS else LeadStatus.ACCEPTED
    links = []
    from mailflow.lifecycle.visits import BOOKABLE

    steps = list(states.next_steps(current))
    if lead.status in BOOKABLE:
        steps.insert(min(3, len(steps)), VISIT)
    for step in steps:
        token = tokens.issue(
            session,
            settings,
            "status",
            now=now,
            subject_id=lead.id,
            installer_id=installer.id,
            lead_id=lead.id,
            extra={"s": str(step)},
        )
        links.append(
            {
                "step": str(step),
                "label": step_label(step, language),
                "url": tokens.url(settings, "status", token),
            }
        )
    return links


def vacation_url(
    session: Session, installer: Installer, *, now: datetime, settings: Settings
) -> str:
    token = tokens.issue(
        session, settings, "vacation", now=now, subject_id=installer.id, installer_id=installer.id
    )
    return tokens.url(settings, "vacation", token)


# ------------------------------------------------------------------ after acceptance -------
def on_accepted(session: Session, lead: Lead, installer: Installer, *, now: datetime) -> None:
    lead.accepted_at = lead.status_changed_at = now
    due = add_business_days(
        now, REMINDER_AFTER_BUSINESS_DAYS, installer.country, installer.timezone
    )
    timers.schedule(
        session, "status_reminder", due, lead_id=lead.id, installer_id=installer.id, now=now
    )


def _held_by(session: Session, timer: Timer, wanted: set) -> tuple[Lead, Installer] | None:
    lead = lock_lead(session, timer.lead_id)
    if (
        lead is None
        or lead.assigned_installer_id != timer.installer_id
        or lead.status not in wanted
    ):
        return None
    return lead, session.get(Installer, timer.installer_id)


@timers.handles("status_reminder")
def _status_reminder(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.ACCEPTED})
    if held is None:
        return
    lead, installer = held
    language = emails.installer_language(installer)
    reason = gettext(
        language,
        N_(
            "You accepted lead #%(ref)s two business days ago and have not "
            "recorded any progress yet. Without news within two more "
            "business days, the lead goes to another installer."
        ),
        ref=lead.id,
    )
    links = status_links(session, lead, installer, now=at, settings=settings)
    queue_email(
        session,
        emails.reminder_email(
            lead,
            installer,
            reason=reason,
            status_links=links,
            vacation_url=vacation_url(session, installer, now=at, settings=settings),
        ),
        now=at,
        settings=settings,
    )
    add_event(session, lead, "reminder", at=at, kind="no_status", installer=installer.email)
    due = add_business_days(
        at, LAPSE_AFTER_REMINDER_BUSINESS_DAYS, installer.country, installer.timezone
    )
    timers.schedule(
        session, "reservation_lapse", due, lead_id=lead.id, installer_id=installer.id, now=at
    )


@timers.handles("reservation_lapse")
def _reservation_lapse(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.ACCEPTED})
    if held is None:
        return
    lead, installer = held
    queue_email(
        session, emails.reservation_lapsed_email(lead, installer), now=at, settings=settings
    )
    release_to_rotation(
        session,
        lead,
        now=at,
        settings=settings,
        reason="reservation lapsed: no progress recorded within two business days of the reminder",
    )


@timers.handles("follow_up_reminder")
def _follow_up_reminder(session: Session, timer: Timer, at: datetime, settings: Settings) -> None:
    held = _held_by(session, timer, {LeadStatus.FOLLOW_UP})
    if held is None:
        return
    lead, installer = held
    language = emails.installer_language(installer)
    note = (timer.data or {}).get("note")
    reason = gettext(language, N_("You asked to be reminded of lead #%(ref)s today."), ref=lead.id)
    if note:
        reason += f"\n\n{note}"
    queue_email(
        session,
        emails.reminder_email(
            lead,
            installer,
            reason=reason,
            status_links=status_links(session, lead, installer, now=at, settings=settings),
            vacation_url=vacation_url(session, installer, now=at, settings=settings),
        ),
        now=at,
        settings=settings,
    )
    add_event(session, lead, "reminder", at=at, kind="follow_up", installer=installer.email)


# ------------------------------------------------------------------ query sweeps -----------
def expire_stale_leads(settings: Settings, at: datetime, *, batch: int = 500) -> int:
    from mailflow.db import session_scope

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
            timers.cancel(session, lead_id=lead.id, kinds=PROGRESS_TIMERS, now=at)
            states.move(lead, LeadStatus.EXPIRED, by=Actor.SYSTEM)
            lead.status_changed_at, lead.updated_at = at, at
            add_event(
                session,
                lead,
                "expired",
                at=at,
                previous=str(previous),
                reason="8 weeks after creation without progress",
            )
            done += 1
    return done


def deactivate_silent_installers(settings: Settings, at: datetime) -> int:
    from mailflow.db import session_scope

    done = 0
    with session_scope(settings) as session:
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
            token = tokens.issue(
                session,
                settings,
                "signin",
                now=at,
                subject_id=installer.id,
                installer_id=installer.id,
                lifetime=timedelta(days=30),
            )
            queue_email(
                session,
                emails.deactivated_email(
                    installer, signin_url=tokens.url(settings, "signin", token)
                ),
                now=at,
                settings=settings,
            )
            done += 1
    return done


def send_digests(settings: Settings, at: datetime) -> int:
    """Once a week, each installer with leads waiting on them gets a summary (opt-out link)."""
    from mailflow.db import session_scope

    sent = 0
    with session_scope(settings) as session:
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
            token = tokens.issue(
                session,
                settings,
                "vacation",
                now=at,
                subject_id=installer.id,
                installer_id=installer.id,
                extra={"digest": "off"},
            )
            queue_email(
                session,
                emails.digest_email(
                    installer,
                    leads=waiting,
                    open_offers=len(offers),
                    unsubscribe_url=tokens.url(settings, "vacation", token),
                ),
                now=at,
                settings=settings,
            )
            sent += 1
    return sent
