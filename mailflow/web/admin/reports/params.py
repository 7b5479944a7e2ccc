"""The reports' query parameters (a plain GET form) read into ``ReportFilters``; odd values
give a 400 page, never a 500."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from fastapi import Request

from mailflow.app.reports.common import BadFilter, ReportFilters, default_range
from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.web.admin.common import MAX_ID

TEXT_LIMIT = 32


def _day(value: str | None, default: date, name: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadFilter(f"{name}: expected a date (YYYY-MM-DD)") from None


def _text(request: Request, name: str) -> str:
    value = (request.query_params.get(name) or "").strip()
    if len(value) > TEXT_LIMIT:
        raise BadFilter(f"{name}: at most {TEXT_LIMIT} characters")
    return value


def read_filters(request: Request) -> ReportFilters:
    """The report's range (default: the last 30 days, today included) and filters."""
    zone = get_settings().admin_time_zone
    start, end = default_range(now().astimezone(ZoneInfo(zone)).date())
    query = request.query_params
    start = _day(query.get("start"), start, "start")
    end = _day(query.get("end"), end, "end")
    installer = _text(request, "installer")
    installer_id = None
    if installer:
        if not installer.isdigit() or not 0 < int(installer) <= MAX_ID:
            raise BadFilter("installer: expected an installer's number")
        installer_id = int(installer)
    return ReportFilters(
        start=start,
        end=end,
        area=_text(request, "area").upper().replace(" ", ""),
        product=_text(request, "product"),
        source=_text(request, "source"),
        installer_id=installer_id,
        tier=_text(request, "tier"),
        zone=zone,
    )
