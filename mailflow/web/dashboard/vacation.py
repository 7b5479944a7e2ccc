"""Vacation: the range an installer sets, how it is shown, and the inactivity pause."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from mailflow.config import Settings
from mailflow.models import (
    Installer,
)
from mailflow.outbound.emails import N_
from mailflow.web.dashboard.common import _day, _t, _tz, signin_url
from mailflow.web.dashboard.labels import MAX_VACATION

log = logging.getLogger(__name__)


class VacationInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def vacation_range(
    form: dict, installer: Installer, *, at: datetime, language: str
) -> tuple[datetime, datetime]:
    """First and last day (the installer's local dates, both included) → the UTC instants
    stored: from 00:00 local on the first day to 00:00 local on the day after the last."""
    tz = _tz(installer)
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("vacation_from", "vacation_until"):
        raw = str(form.get(name) or "").strip()
        if not raw:
            errors[name] = _t(language, N_("Enter a date."))
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = _t(language, N_("Enter a date."))
    if not errors:
        first, last = days["vacation_from"], days["vacation_until"]
        today = at.astimezone(tz).date()
        if last < first:
            errors["vacation_until"] = _t(language, N_("The last day is before the first day."))
        elif last < today:
            errors["vacation_until"] = _t(language, N_("The last day is in the past."))
        elif last - first >= MAX_VACATION:
            errors["vacation_until"] = _t(language, N_("A vacation can last one year at most."))
    if errors:
        raise VacationInvalid(errors)
    start = datetime.combine(days["vacation_from"], time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(days["vacation_until"] + timedelta(days=1), time(0), tzinfo=tz)
    return start, end.astimezone(UTC)


def vacation_view(installer: Installer, language: str, at: datetime) -> dict | None:
    """The installer's vacation as local days, unless it is over."""
    if installer.vacation_until is None and installer.vacation_from is None:
        return None
    if installer.vacation_until is not None and installer.vacation_until <= at:
        return None
    tz = _tz(installer)
    first = installer.vacation_from.astimezone(tz).date() if installer.vacation_from else None
    last = (
        (installer.vacation_until.astimezone(tz) - timedelta(microseconds=1)).date()
        if installer.vacation_until
        else None
    )
    current = installer.vacation_from is None or installer.vacation_from <= at
    return {
        "first": _day(first, language) if first else "",
        "last": _day(last, language) if last else "",
        "first_iso": first.isoformat() if first else "",
        "last_iso": last.isoformat() if last else "",
        "current": current,
    }


def pause_of(installer: Installer, settings: Settings) -> dict | None:
    """Why the installer receives no offers, for the pages; None while the account is active.
    Only the pause for inactivity is theirs to end: an admin's deactivation needs an admin."""
    if installer.active:
        return None
    return {
        "by_admin": installer.deactivated_by_admin,
        "contact": settings.admin_email or settings.from_address,
        "signin_url": signin_url(installer.email),
    }


def apply_vacation(
    installer: Installer, action: str, form: dict, *, at: datetime, language: str
) -> str:
    """``vacation`` sets the range (raises VacationInvalid), ``clear_vacation`` ends it."""
    if action == "clear_vacation":
        installer.vacation_from = installer.vacation_until = None
        log.info("installer %s cleared their vacation", installer.id)
        return "vacation_cleared"
    start, end = vacation_range(form, installer, at=at, language=language)
    installer.vacation_from, installer.vacation_until = start, end
    log.info("installer %s on vacation %s → %s", installer.id, start.isoformat(), end.isoformat())
    return "vacation"
