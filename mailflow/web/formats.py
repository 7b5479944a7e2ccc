"""Formatting of values on the admin pages (instants in the admin's time zone, ages, durations,
JSON), registered as Jinja filters by :func:`mailflow.web.pages.environment` and called by
handlers that put such text in a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailflow.clock import as_utc, now
from mailflow.config import get_settings


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def format_utc_instant(value: Any) -> str:
    instant = _instant(value)
    if instant is None:
        return "—" if value in (None, "") else str(value)
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC")


def admin_zone() -> ZoneInfo:
    """The time zone of the admin console (``MAILFLOW_ADMIN_TIME_ZONE``)."""
    return ZoneInfo(get_settings().admin_time_zone)


def format_admin_instant(value: Any, zone: ZoneInfo | None = None) -> str:
    """An instant as admins read it: in the console's time zone, to the minute, with the
    zone's abbreviation (``2026-03-01 13:30 CET``)."""
    instant = _instant(value)
    if instant is None:
        return "—" if value in (None, "") else str(value)
    return instant.astimezone(zone or admin_zone()).strftime("%Y-%m-%d %H:%M %Z")


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    days, rest = divmod(seconds, 86400)
    return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"


def format_age(value: Any) -> str:
    instant = _instant(value)
    if instant is None:
        return "—"
    delta = (now() - instant).total_seconds()
    if delta < 0:
        return "in " + format_duration(-delta)
    return format_duration(delta) + " ago"


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
