"""The speed-to-lead report (#20, ``/admin/reports/speed``): median and p90 time from arrival
to acceptance and to first contact for the range, tables per installer, source, product and
tier, a chart of the median time to first contact per day, CSV and XLSX exports of the tables.
The figures are ``mailflow.app.reports.speed``'s, the same ``GET /api/speed`` answers."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.app.reports.common import BadFilter, ReportFilters
from mailflow.app.reports.overview import NO_PRODUCT
from mailflow.app.reports.speed import SPEED_GROUPS, SpeedGroup, SpeedReport, speed_for_report
from mailflow.db import session_scope
from mailflow.i18n import format_duration, gettext
from mailflow.web.admin.auth import AdminIdentity, CurrentAdmin
from mailflow.web.admin.reports.charts import speed_chart
from mailflow.web.admin.reports.pages import (
    N_,
    _bad,
    _exported,
    _page,
    labels_for,
    language_of,
)
from mailflow.web.admin.reports.params import read_filters

# Included in ``pages.router`` (prefix ``/admin/reports``).
router = APIRouter(include_in_schema=False)

GROUP_NAMES = {
    "": N_("All leads"),
    "installer": N_("Installer"),
    "source": N_("Source"),
    "product": N_("Product"),
    "tier": N_("Tier"),
}
HEADINGS = {
    "installer": N_("Per installer (the lead's holder)"),
    "source": N_("Per source"),
    "product": N_("Per product"),
    "tier": N_("Per tier (the holder's, now)"),
}
NO_HOLDER = N_("Not taken yet")
SPEED_COLUMNS = (
    ("group", N_("Grouped by")),
    ("key", N_("Group")),
    ("leads", N_("Leads")),
    ("accepted", N_("Accepted")),
    ("to_acceptance_median", N_("Median to acceptance (min)")),
    ("to_acceptance_p90", N_("p90 to acceptance (min)")),
    ("contacted", N_("First contacts")),
    ("to_first_contact_median", N_("Median to first contact (min)")),
    ("to_first_contact_p90", N_("p90 to first contact (min)")),
)


def minutes(value: timedelta | None) -> float | None:
    """A time in minutes, one decimal (tables, CSV, XLSX); None when there is none."""
    return None if value is None else round(value.total_seconds() / 60, 1)


def seconds(value: timedelta | None) -> int | None:
    """As ``GET /api/speed`` gives it (whole seconds)."""
    return None if value is None else round(value.total_seconds())


def key_label(by: str, key: str | None, labels: dict[str, str], language: str) -> str:
    if key is None:
        if by in ("installer", "tier"):
            return gettext(language, NO_HOLDER)
        if by == "product":
            return labels[NO_PRODUCT]
        return gettext(language, GROUP_NAMES[""])
    return labels.get(key, key) if by in ("source", "product") else key


def speed_table(report: SpeedReport, language: str) -> list[list]:
    """The tables as rows for the exports: all leads first, then per installer, source,
    product and tier."""
    labels = labels_for(language)
    groups: list[tuple[str, SpeedGroup]] = [("", report.overall)]
    for by in SPEED_GROUPS:
        groups += [(by, group) for group in report.tables[by]]
    rows = []
    for by, group in groups:
        a, c = group.figures.to_acceptance, group.figures.to_first_contact
        rows.append(
            [
                gettext(language, GROUP_NAMES[by]),
                key_label(by, group.key, labels, language),
                group.leads,
                a.count,
                minutes(a.median),
                minutes(a.p90),
                c.count,
                minutes(c.median),
                minutes(c.p90),
            ]
        )
    return rows


def _report(request: Request) -> tuple[ReportFilters, SpeedReport]:
    f = read_filters(request)
    with session_scope() as session:
        return f, speed_for_report(session, f)


@router.get("/speed")
def speed_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f, report = _report(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    language = language_of(admin)

    def spoken(value: timedelta | None) -> str:
        return "—" if value is None else format_duration(value, language)

    def in_minutes(value: timedelta | None) -> str:
        shown = minutes(value)
        return "—" if shown is None else f"{shown:.1f}"

    return _page(
        request,
        admin,
        "admin/reports/speed.html",
        f,
        report=report,
        chart=speed_chart(report, language),
        groups=[(by, GROUP_NAMES[by], HEADINGS[by]) for by in SPEED_GROUPS],
        key_label=lambda by, key: key_label(by, key, labels_for(language), language),
        spoken=spoken,
        in_minutes=in_minutes,
        seconds=seconds,
    )


def _speed_exported(request: Request, admin: AdminIdentity, fmt: str) -> Response:
    return _exported(
        request,
        admin,
        "speed",
        fmt,
        read=_report,
        table=speed_table,
        columns=SPEED_COLUMNS,
        title=gettext(language_of(admin), "Speed to lead"),
    )


@router.get("/speed.csv")
def speed_csv(request: Request, admin: CurrentAdmin) -> Response:
    return _speed_exported(request, admin, "csv")


@router.get("/speed.xlsx")
def speed_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    return _speed_exported(request, admin, "xlsx")
