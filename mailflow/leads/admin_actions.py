"""What an admin does to a lead by hand: assign or reassign, put back into rotation, close,
archive, mark as spam, edit its fields.

Each function locks the lead, runs in the caller's transaction, writes the change, its timeline
event (actor ``admin``, the admin's email as ``by``, the reason) and its emails (outbox)
together, and raises :class:`ActionRefused` with a readable message when the action does not
apply to the lead as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.effects import outcome
from mailflow.domain.events import LeadNeedsInstaller
from mailflow.domain.intake.schema import CUSTOMER_FIELDS, LeadIn, error_map
from mailflow.domain.lead import PROGRESS_TIMERS
from mailflow.infra import timers
from mailflow.leads import search
from mailflow.leads.service import add_event
from mailflow.models import (
    HELD_STATUSES,
    Actor,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.routing import exchange
from mailflow.routing.offers import lock_lead

MAX_REASON = 2000
# Finished for good: nothing to assign, rotate or close any more.
FINAL = frozenset({LeadStatus.INSTALLED})
CLOSABLE_FROM = frozenset(LeadStatus) - {LeadStatus.FAILED, LeadStatus.INSTALLED}
EDITABLE_CUSTOMER = CUSTOMER_FIELDS
EDITABLE_LEAD = (
    "external_id",
    "source",
    "product",
    "building_type",
    "grid_connection",
    "message",
)
_CUSTOMER_COLUMN = {"name": "customer_name"}


class ActionRefused(Exception):
    """The action does not apply to the lead as it is; the message says why."""


class LeadMissing(ActionRefused):
    """There is no such lead."""


class InvalidEdit(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def admin_event(session: Session, lead: Lead, type_: str, *, at: datetime, by: str, **data):
    """A timeline event by an admin (``by``: their email); empty values are left out."""
    return add_event(
        session,
        lead,
        type_,
        at=at,
        actor=Actor.ADMIN,
        by=by,
        **{k: v for k, v in data.items() if v is not None},
    )


def _clean_reason(reason: str | None, *, required: bool = False) -> str | None:
    reason = " ".join((reason or "").split())[:MAX_REASON] or None
    if required and not reason:
        raise ActionRefused("Give a reason: it goes on the lead's timeline.")
    return reason


def _locked(session: Session, lead_id: int) -> Lead:
    lead = lock_lead(session, lead_id)
    if lead is None:
        raise LeadMissing(f"There is no lead #{lead_id}.")
    return lead


def _open_offers(session: Session, lead: Lead) -> list[Offer]:
    return list(
        session.scalars(
            select(Offer).where(Offer.lead_id == lead.id, Offer.status == OfferStatus.OFFERED)
        )
    )


def withdraw_open_offers(session: Session, lead: Lead, *, now: datetime) -> list[int]:
    """Open offers of the lead are withdrawn: their accept links answer "taken" from now on."""
    return offer_rules.withdraw(_open_offers(session, lead), at=now)


def _installer_email(session: Session, installer_id: int | None) -> str | None:
    if installer_id is None:
        return None
    installer = session.get(Installer, installer_id)
    return installer.email if installer else None


# ------------------------------------------------------------------ assign ------------------
def assign(
    session: Session,
    lead_id: int,
    installer_id: int,
    *,
    by: str,
    reason: str | None,
    now: datetime,
    settings: Settings,
) -> Lead:
    """Give the lead to an installer directly, skipping the rotation: open offers are withdrawn,
    a previous holder loses it, the installer gets the acceptance email with the status links
    and the one-time link to the customer's contact details, and the acceptance follow-up
    (status reminder, then lapse) starts as if they had accepted."""
    reason = _clean_reason(reason, required=True)
    lead = _locked(session, lead_id)
    installer = session.get(Installer, installer_id)
    if installer is None:
        raise ActionRefused(f"There is no installer #{installer_id}.")
    if not installer.active:
        raise ActionRefused(
            f"{installer.email} is deactivated: reactivate the installer before assigning."
        )
    if lead.status in FINAL:
        raise ActionRefused(f"Lead #{lead.id} is {lead.status.value}: it cannot be reassigned.")
    if lead.assigned_installer_id == installer.id and lead.status in HELD_STATUSES:
        raise ActionRefused(f"{installer.email} already holds lead #{lead.id}.")
    previous_id = lead.assigned_installer_id if lead.status in HELD_STATUSES else None
    previous_status = lead.status
    withdrawn = withdraw_open_offers(session, lead, now=now)
    previous_progress = dict(lead.progress or {})
    assigned = lead_rules.assign(lead, installer, at=now, by=by)
    lead.spam, lead.archived_at = False, None
    duplicate_of, lead.duplicate_of_id = lead.duplicate_of_id, None
    if previous_id is not None:
        lead.progress = {}
    admin_event(
        session,
        lead,
        "reassigned" if previous_id is not None else "assigned",
        at=now,
        by=by,
        installer=installer.email,
        previous_installer=_installer_email(session, previous_id),
        previous_status=previous_status.value,
        previous_progress=previous_progress or None,
        withdrawn_offers=withdrawn or None,
        was_duplicate_of=duplicate_of,
        reason=reason,
    )
    # The same emails and timers as an accepted offer (reactions to LeadAssigned).
    UnitOfWork(session, settings, now).apply(assigned)
    return lead


# ------------------------------------------------------------------ rotation ----------------
def back_to_rotation(
    session: Session,
    lead_id: int,
    *,
    by: str,
    reason: str | None,
    now: datetime,
    settings: Settings,
) -> Offer | None:
    """Offer the lead to the next eligible installer (installers already offered it are
    skipped; nobody left → the pool): a holder loses it, an open offer is withdrawn, a closed,
    expired, duplicate or spam lead is reopened. Returns the new offer, or None (pool)."""
    reason = _clean_reason(reason, required=True)
    lead = _locked(session, lead_id)
    if lead.status in FINAL:
        raise ActionRefused(f"Lead #{lead.id} is {lead.status.value}: it stays where it is.")
    previous_status = lead.status
    withdrawn = withdraw_open_offers(session, lead, now=now)
    timers.cancel(session, lead_id=lead.id, kinds=PROGRESS_TIMERS, now=now)
    duplicate_of = lead.duplicate_of_id
    lead.duplicate_of_id = None
    lead.spam, lead.archived_at = False, None
    admin_event(
        session,
        lead,
        "back_to_rotation",
        at=now,
        by=by,
        previous_status=previous_status.value,
        previous_installer=_installer_email(session, lead.assigned_installer_id)
        if previous_status in HELD_STATUSES
        else None,
        withdrawn_offers=withdrawn or None,
        was_duplicate_of=duplicate_of,
        reason=reason,
    )
    if previous_status in HELD_STATUSES:
        # The system's table releases a lead being worked on; an ordered or scheduled one only
        # an admin may release (ADMIN_TRANSITIONS).
        system_may = LeadStatus.NEW in lead_rules.SYSTEM_TRANSITIONS.get(previous_status, ())
        rotated = lead_rules.release(
            lead,
            at=now,
            actor=Actor.SYSTEM if system_may else Actor.ADMIN,
            reason=f"put back into rotation by {by}",
        )
    else:
        lead_rules.move(lead, LeadStatus.NEW, by=Actor.ADMIN)
        rotated = outcome(LeadNeedsInstaller(lead.id, "back_to_rotation"))
    lead.updated_at = now
    UnitOfWork(session, settings, now).apply(rotated)
    open_offers = _open_offers(session, lead)
    return open_offers[0] if open_offers else None


# ------------------------------------------------------------------ open exchange -----------
def open_to_exchange(
    session: Session, lead_id: int, *, by: str, now: datetime, settings: Settings
) -> Lead:
    """The lead is listed in the open exchange for every installer of its area to claim (an
    open offer is withdrawn); only a lead nobody holds yet."""
    lead = _locked(session, lead_id)
    if lead_rules.in_exchange(lead):
        raise ActionRefused(f"Lead #{lead.id} is in the exchange already.")
    if lead.status not in lead_rules.OPENABLE:
        raise ActionRefused(
            f"Lead #{lead.id} is {lead.status.value}: only a new, offered or pool lead can be "
            "opened to the exchange."
        )
    exchange.open_to_exchange(session, lead, now=now, settings=settings, by=by)
    return lead


# ------------------------------------------------------------------ close, archive, spam ----
def close(session: Session, lead_id: int, *, by: str, reason: str | None, now: datetime) -> Lead:
    """The lead is failed (lost) for good: open offers withdrawn, reminders cancelled."""
    reason = _clean_reason(reason, required=True)
    lead = _locked(session, lead_id)
    if lead.status not in CLOSABLE_FROM:
        raise ActionRefused(f"Lead #{lead.id} is {lead.status.value} already.")
    _fail(session, lead, now=now, reason=reason)
    admin_event(
        session,
        lead,
        "closed",
        at=now,
        by=by,
        reason=reason,
    )
    return lead


def _fail(session: Session, lead: Lead, *, now: datetime, reason: str) -> str:
    previous = lead.status
    withdraw_open_offers(session, lead, now=now)
    timers.cancel(session, lead_id=lead.id, kinds=PROGRESS_TIMERS, now=now)
    lead_rules.move(lead, LeadStatus.FAILED, by=Actor.ADMIN)
    lead.status_changed_at, lead.updated_at = now, now
    lead.progress = {**(lead.progress or {}), "failed_reason": reason}
    return previous.value


def set_archived(session: Session, lead_id: int, archived: bool, *, by: str, now: datetime) -> Lead:
    """Archived leads leave the default lists (nothing else changes; undo with unarchive)."""
    lead = _locked(session, lead_id)
    if (lead.archived_at is not None) == archived:
        raise ActionRefused(
            f"Lead #{lead.id} is {'archived' if archived else 'not archived'} already."
        )
    lead.archived_at = now if archived else None
    lead.updated_at = now
    admin_event(session, lead, "archived" if archived else "unarchived", at=now, by=by)
    return lead


def set_spam(session: Session, lead_id: int, spam: bool, *, by: str, now: datetime) -> Lead:
    """Spam: the lead is failed (reason "spam"), its open offers withdrawn, and archived.
    Undoing it only lifts the flag and the archive: put it back into rotation to offer it."""
    lead = _locked(session, lead_id)
    if lead.spam == spam:
        raise ActionRefused(f"Lead #{lead.id} is {'marked' if spam else 'not marked'} as spam.")
    if spam:
        previous = lead.status.value
        if lead.status in CLOSABLE_FROM:
            _fail(session, lead, now=now, reason="spam")
        lead.spam, lead.archived_at = True, now
        admin_event(session, lead, "marked_spam", at=now, by=by, previous_status=previous)
    else:
        lead.spam, lead.archived_at = False, None
        admin_event(session, lead, "unmarked_spam", at=now, by=by)
    lead.updated_at = now
    return lead


# ------------------------------------------------------------------ edit --------------------
def current_fields(lead: Lead) -> dict[str, Any]:
    customer = {name: getattr(lead, _CUSTOMER_COLUMN.get(name, name)) for name in EDITABLE_CUSTOMER}
    return {"customer": customer, **{name: getattr(lead, name) for name in EDITABLE_LEAD}}


def edit(
    session: Session,
    lead_id: int,
    form: dict[str, str],
    *,
    by: str,
    now: datetime,
    settings: Settings,
) -> list[str]:
    """Change the lead's fields, validated and normalised as intake does (phone to E.164,
    email syntax, country code...). ``form`` holds the wanted values by field name
    (``name``, ``email``... ``product``); missing names keep their value, empty ones clear it.
    Raises :class:`InvalidEdit` naming each bad field; returns the names of changed fields."""
    lead = _locked(session, lead_id)
    if lead.erased_at is not None:
        raise ActionRefused(f"Lead #{lead.id} was erased: its personal fields stay empty.")
    wanted = current_fields(lead)
    for name in EDITABLE_CUSTOMER:
        if name in form:
            wanted["customer"][name] = form[name]
    for name in EDITABLE_LEAD:
        if name in form:
            wanted[name] = form[name]
    payload = {
        **{k: (v if v not in ("", None) else None) for k, v in wanted.items() if k != "customer"},
        "customer": {k: v for k, v in wanted["customer"].items() if v not in ("", None)},
    }
    try:
        valid = LeadIn.model_validate(
            payload, context={"default_country": settings.default_country}
        )
    except ValidationError as exc:
        raise InvalidEdit(
            {k.removeprefix("customer."): v for k, v in error_map(exc).items()}
        ) from None
    new_values: dict[str, Any] = {
        "customer_name": valid.customer.name,
        "email": valid.customer.email,
        "phone": valid.customer.phone,
        "street": valid.customer.street,
        "postcode": valid.customer.postcode,
        "city": valid.customer.city,
        "country": valid.customer.country,
        "language": valid.customer.language,
        "reachability": valid.customer.reachability,
        "external_id": valid.external_id,
        "source": valid.source.value if valid.source else lead.source,
        "product": valid.product.value if valid.product else None,
        "building_type": valid.building_type.value if valid.building_type else None,
        "grid_connection": valid.grid_connection.value if valid.grid_connection else None,
        "message": valid.message,
    }
    changed = [col for col, value in new_values.items() if getattr(lead, col) != value]
    if not changed:
        return []
    for col in changed:
        setattr(lead, col, new_values[col])
    lead.updated_at = now
    # Field names only: the timeline is no place for a copy of personal data.
    admin_event(session, lead, "edited", at=now, by=by, fields=changed)
    if {"customer_name", "email", "phone", "city"} & set(changed):
        search.reindex(session, lead)
    return changed
