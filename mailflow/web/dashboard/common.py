"""Small helpers of the dashboard: formatting in the installer's language and zone."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from fastapi.responses import RedirectResponse

from mailflow.app.emails import step_label
from mailflow.config import Settings
from mailflow.i18n import gettext
from mailflow.models import (
    Installer,
    Lead,
    LeadStatus,
)
from mailflow.web.dashboard.labels import PREFIX, STATUS_LABELS

log = logging.getLogger(__name__)


def _t(language: str, message: str, **params) -> str:
    return gettext(language, message, **params)


def _tz(installer: Installer) -> ZoneInfo:
    try:
        return ZoneInfo(installer.timezone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day(value: date, language: str) -> str:
    return format_date(value, "medium", locale=language)


def _when(value: datetime | None, language: str, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    local = value.astimezone(tz)
    return (
        f"{format_date(local.date(), 'medium', locale=language)}, "
        f"{format_time(local.time(), 'short', locale=language)}"
    )


def _iso_day(value) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _money(amount, currency: str | None, language: str) -> str:
    try:
        return format_currency(amount, currency or "EUR", locale=language)
    except Exception:  # an odd currency code must not break the page
        return f"{amount} {currency or ''}".strip()


def _secure(settings: Settings) -> bool:
    return settings.base_url.lower().startswith("https://")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def status_label(status: str, language: str) -> str:
    try:
        return _t(language, STATUS_LABELS[LeadStatus(status)])
    except ValueError:
        return str(status)


def _step_text(step: str, language: str) -> str:
    try:
        return step_label(step, language)
    except KeyError:
        return str(step)


_NEXT = re.compile(r"^/dashboard/[A-Za-z0-9_\-/]*(\?[A-Za-z0-9_\-=&]*)?$")


def map_url(lead: Lead) -> str | None:
    """An OpenStreetMap search for the customer's address (shown with the address, so only to
    the installer holding the lead)."""
    parts = [lead.street, " ".join(p for p in (lead.postcode, lead.city) if p), lead.country]
    query = ", ".join(p for p in parts if p)
    if not (lead.street or lead.city or lead.postcode):
        return None
    return "https://www.openstreetmap.org/search?" + urlencode({"query": query})


def signin_url(email: str | None, next_url: str | None = None) -> str:
    """The sign-in page with the form pre-filled with ``email`` (only pre-filled: the sign-in
    answers the same for any address) and where to go once signed in."""
    query = {k: v for k, v in (("email", email), ("next", next_url)) if v}
    return f"{PREFIX}/signin" + (f"?{urlencode(query)}" if query else "")


def safe_next(value) -> str:
    """Where to go after signing in: a dashboard path, never another site."""
    if isinstance(value, str) and _NEXT.match(value) and not value.startswith(f"{PREFIX}/signin"):
        return value
    return f"{PREFIX}/"
