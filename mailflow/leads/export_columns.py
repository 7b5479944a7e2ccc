"""The columns of the lead exports (``/admin/leads/export.csv`` and ``.xlsx``): one registry of
keys, defined once. ``?column=`` picks among them, in the order given; the lead table's column
chooser keys (``contact``, ``location``, ``installer``, …) are accepted as aliases of the
columns they show.

========================  ===================================================================
key                       value
========================  ===================================================================
id                        the lead's number
status                    status (``new``, ``offered``, ``accepted``, …)
source                    where it came from (``calculator``, ``webhook``, ``import``, …)
external_id               the lead platform's reference
duplicate_of              the number of the lead it duplicates
product                   ``pv``, ``heat_pump``, ``battery``, ``pv_battery``
building_type             ``residential``, ``commercial``, …
grid_connection           ``on_grid``, ``off_grid``, ``zero_injection``
name, email, phone        the customer
street, postcode, city    the customer's address
country, language         ISO codes
reachability, message     the customer's words
assigned_to               the installer's email address
created_at, updated_at    date and time (XLSX: date cells in the admin time zone, named in the
                          header, e.g. ``created_at (UTC)``; CSV: ISO 8601 in UTC)
details.<key>             one detail (``details.annual_consumption_kwh``); ``details`` alone is
                          every detail key found in the exported leads, one column each
========================  ===================================================================

Aliases: ``contact`` = email, phone · ``location`` = postcode, city · ``building`` =
building_type · ``grid`` = grid_connection · ``installer`` = assigned_to · ``created`` =
created_at · ``updated`` = updated_at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailflow.clock import iso
from mailflow.models import Lead


@dataclass(frozen=True)
class ExportColumn:
    key: str
    get: Callable[[Lead], Any]
    width: float = 14
    is_date: bool = False


def _attr(name: str) -> Callable[[Lead], Any]:
    return lambda lead: getattr(lead, name)


COLUMNS: dict[str, ExportColumn] = {
    c.key: c
    for c in (
        ExportColumn("id", _attr("id"), 8),
        ExportColumn("status", lambda lead: lead.status.value, 14),
        ExportColumn("source", _attr("source"), 12),
        ExportColumn("external_id", _attr("external_id"), 16),
        ExportColumn("duplicate_of", _attr("duplicate_of_id"), 12),
        ExportColumn("product", _attr("product"), 12),
        ExportColumn("building_type", _attr("building_type"), 14),
        ExportColumn("grid_connection", _attr("grid_connection"), 15),
        ExportColumn("name", _attr("customer_name"), 24),
        ExportColumn("email", _attr("email"), 28),
        ExportColumn("phone", _attr("phone"), 17),
        ExportColumn("street", _attr("street"), 28),
        ExportColumn("postcode", _attr("postcode"), 10),
        ExportColumn("city", _attr("city"), 18),
        ExportColumn("country", _attr("country"), 9),
        ExportColumn("language", _attr("language"), 10),
        ExportColumn("reachability", _attr("reachability"), 20),
        ExportColumn("message", _attr("message"), 40),
        ExportColumn(
            "assigned_to",
            lambda lead: lead.assigned_installer.email if lead.assigned_installer else None,
            28,
        ),
        ExportColumn("created_at", _attr("created_at"), 18, is_date=True),
        ExportColumn("updated_at", _attr("updated_at"), 18, is_date=True),
    )
}
ALIASES: dict[str, tuple[str, ...]] = {
    "contact": ("email", "phone"),
    "location": ("postcode", "city"),
    "building": ("building_type",),
    "grid": ("grid_connection",),
    "installer": ("assigned_to",),
    "created": ("created_at",),
    "updated": ("updated_at",),
}
DETAILS = "details"
DETAIL_PREFIX = "details."
_DETAIL_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,63}$")
MAX_COLUMNS = 200
_PLAIN_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,14})([.,]\d+)?$")


def default_keys() -> list[str]:
    """Every column, then every detail (``details``)."""
    return [*COLUMNS, DETAILS]


def resolve(requested: Iterable[str], detail_keys: Callable[[], list[str]]) -> list[str]:
    """The export's column keys: the requested ones in their order (aliases and ``details``
    expanded, unknown keys left out, each once), or every column. ``detail_keys`` lists the
    detail keys of the exported leads (asked only when ``details`` is wanted)."""
    wanted = [str(k).strip() for k in requested if str(k).strip()] or default_keys()
    keys: list[str] = []
    for key in wanted:
        if key in COLUMNS:
            keys.append(key)
        elif key in ALIASES:
            keys.extend(ALIASES[key])
        elif key == DETAILS:
            keys.extend(DETAIL_PREFIX + k for k in detail_keys())
        elif key.startswith(DETAIL_PREFIX) and _DETAIL_KEY.match(key[len(DETAIL_PREFIX) :]):
            keys.append(key)
    return list(dict.fromkeys(keys))[:MAX_COLUMNS] or list(COLUMNS)


def detail_keys_of(leads: Iterable[dict | None]) -> list[str]:
    """Every key of these details, sorted (those fit for a column name)."""
    found: set[str] = set()
    for details in leads:
        found.update(k for k in (details or {}) if _DETAIL_KEY.match(str(k)))
    return sorted(found)


def header(key: str, zone: str) -> str:
    column = COLUMNS.get(key)
    return f"{key} ({zone})" if column is not None and column.is_date else key


def width(key: str) -> float:
    column = COLUMNS.get(key)
    return column.width if column is not None else min(max(len(key) + 3, 12), 40)


def is_date(key: str) -> bool:
    column = COLUMNS.get(key)
    return column is not None and column.is_date


def cell(lead: Lead, key: str, *, zone: ZoneInfo | None = None) -> Any:
    """The value of one column for one lead: for a sheet (``zone`` given: dates as naive
    datetimes in that zone, numbers as numbers) or for CSV (dates in ISO 8601, UTC)."""
    column = COLUMNS.get(key)
    if column is not None:
        value = column.get(lead)
        if isinstance(value, datetime):
            return value.astimezone(zone).replace(tzinfo=None) if zone else iso(value)
        return value
    value = (lead.details or {}).get(key[len(DETAIL_PREFIX) :])
    if isinstance(value, dict | list):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if zone is not None and isinstance(value, str) and _PLAIN_NUMBER.match(value.strip()):
        number = float(value.strip().replace(",", "."))
        return int(number) if number.is_integer() and "." not in value else number
    return value
