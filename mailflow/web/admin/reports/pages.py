"""The report pages: overview with charts, installers (table, exports, drill-down), sources
(table, exports) and the service-level lists. Read-only: any signed-in admin, viewers too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.app.reports.common import TIERS, BadFilter, ReportFilters
from mailflow.app.reports.installers import DEFAULT_SORT, SORT_KEYS, InstallerRow, installer_rows
from mailflow.app.reports.overview import NO_PRODUCT, overview
from mailflow.app.reports.service import service_lists
from mailflow.app.reports.sources import SourceRow, source_rows
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.intake.schema import Product, Source
from mailflow.i18n import DEFAULT_LANGUAGE, gettext
from mailflow.models import Installer
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import AdminIdentity, CurrentAdmin
from mailflow.web.admin.common import not_found, problem
from mailflow.web.admin.rendering import render
from mailflow.web.admin.reports.charts import overview_charts
from mailflow.web.admin.reports.exports import csv_response, xlsx_response
from mailflow.web.admin.reports.params import read_filters

router = APIRouter(prefix="/admin/reports", include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


LABELS = {
    # sources
    "calculator": N_("Calculator form"),
    "leadgen": N_("Lead portal"),
    "webhook": N_("Webhook client"),
    "email": N_("Email"),
    "import": N_("File import"),
    "manual": N_("Entered by an admin"),
    "unknown": N_("Unknown"),
    # products
    "pv": N_("Solar PV"),
    "heat_pump": N_("Heat pump"),
    "battery": N_("Battery"),
    "pv_battery": N_("Solar PV and battery"),
    NO_PRODUCT: N_("No product given"),
    # funnel stages
    "received": N_("Received"),
    "offered": N_("Offered"),
    "accepted": N_("Accepted"),
    "contacted": N_("Customer contacted"),
    "quote_sent": N_("Quote sent"),
    "order_placed": N_("Order placed"),
    "installed": N_("Installed"),
}
INSTALLER_COLUMNS = (
    ("name", N_("Installer")),
    ("tier", N_("Tier")),
    ("score", N_("Score")),
    ("offered", N_("Offered")),
    ("accepted", N_("Accepted")),
    ("declined", N_("Declined")),
    ("timed_out", N_("Timed out")),
    ("claimed", N_("Claimed")),
    ("median_response_minutes", N_("Median response (min)")),
    ("progress_recorded", N_("Progress recorded")),
    ("won", N_("Won")),
    ("average_rating", N_("Average rating")),
    ("ratings", N_("Ratings")),
)
SOURCE_COLUMNS = (
    ("source", N_("Source")),
    ("leads", N_("Leads")),
    ("duplicates", N_("Duplicates")),
    ("quarantined", N_("Quarantined or held")),
    ("accepted", N_("Accepted")),
    ("won", N_("Won")),
    ("quoted_value", N_("Quoted value")),
    ("acceptance_rate", N_("Acceptance rate")),
    ("won_rate", N_("Win rate")),
)


def language_of(admin: AdminIdentity) -> str:
    return admin.language or DEFAULT_LANGUAGE


def labels_for(language: str) -> dict[str, str]:
    return {key: gettext(language, text) for key, text in LABELS.items()}


def _rounded(value, digits: int = 1):
    return None if value is None else round(value, digits)


def _page(request: Request, admin: AdminIdentity, template: str, f: ReportFilters, **ctx):
    language = language_of(admin)
    with session_scope() as session:
        installers = [
            (i.id, i.name) for i in session.query(Installer).order_by(Installer.name, Installer.id)
        ]

    def qs(extra: dict | None = None) -> str:
        """The report's query string, with ``extra`` parameters replaced."""
        params = f.params()
        params.update({k: v for k, v in (extra or {}).items() if v})
        return urlencode(params)

    ctx.setdefault("sort", "")
    ctx.setdefault("base_path", None)
    ctx.setdefault("hide_installer_filter", False)
    return render(
        request,
        template,
        admin=admin,
        language=language,
        f=f,
        qs=qs,
        labels=labels_for(language),
        sources=[s.value for s in Source],
        products=[p.value for p in Product],
        tiers=TIERS,
        installer_choices=installers,
        **ctx,
    )


def _bad(request: Request, admin: AdminIdentity, exc: BadFilter) -> Response:
    return problem(request, admin, 400, "Bad filter", str(exc))


@router.get("")
def reports_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f = read_filters(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    with session_scope() as session:
        view = overview(session, f)
    charts = overview_charts(view, language_of(admin), labels_for(language_of(admin)))
    return _page(request, admin, "admin/reports/overview.html", f, view=view, charts=charts)


# ------------------------------------------------------------------ installers --------------
def installer_table(rows: list[InstallerRow]) -> list[list]:
    return [
        [
            row.name,
            row.tier,
            _rounded(row.score),
            row.offered,
            row.accepted,
            row.declined,
            row.timed_out,
            row.claimed,
            _rounded(row.median_response_minutes),
            row.progress_recorded,
            row.won,
            _rounded(row.average_rating, 2),
            row.ratings,
        ]
        for row in rows
    ]


def _installers(request: Request, admin: AdminIdentity):
    f = read_filters(request)
    sort = request.query_params.get("sort") or DEFAULT_SORT
    if sort.removeprefix("-") not in SORT_KEYS:
        raise BadFilter(f"sort: one of {', '.join(SORT_KEYS)} (descending with a leading -)")
    with session_scope() as session:
        rows = installer_rows(session, f, sort)
    return f, sort, rows


def _export(request, admin, what: str, fmt: str, f: ReportFilters) -> None:
    with session_scope() as session:
        record_web(
            session,
            request,
            admin,
            "reports.export",
            summary=f"{what} report exported as {fmt.upper()}",
            data={"report": what, "format": fmt, "filters": f.params()},
        )


def _headers(language: str, columns) -> list[str]:
    return [gettext(language, text) for _, text in columns]


def _name(what: str, f: ReportFilters, ext: str) -> str:
    return f"{what}-{f.start:%Y%m%d}-{f.end:%Y%m%d}.{ext}"


def _exported(
    request: Request,
    admin: AdminIdentity,
    what: str,
    fmt: str,
    *,
    read: Callable[[Request], tuple[ReportFilters, Any]],
    table: Callable[[Any, str], list[list]],
    columns: Sequence[tuple[str, str]],
    title: str = "",
) -> Response:
    """A report's table exported as ``fmt`` ("csv" or "xlsx", the XLSX sheet named ``title``):
    the filters and figures ``read`` from the request (a bad filter is a 400), the export
    audited, the headers and ``table(figures, language)`` in the admin's language."""
    try:
        f, figures = read(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    _export(request, admin, what, fmt, f)
    language = language_of(admin)
    headers, rows = _headers(language, columns), table(figures, language)
    if fmt == "csv":
        return csv_response(headers, rows, _name(what, f, "csv"))
    return xlsx_response(headers, rows, title, f, _name(what, f, "xlsx"))


@router.get("/installers")
def installers_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f, sort, rows = _installers(request, admin)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    return _page(
        request,
        admin,
        "admin/reports/installers.html",
        f,
        rows=rows,
        sort=sort,
        columns=INSTALLER_COLUMNS,
    )


def _installers_exported(request: Request, admin: AdminIdentity, fmt: str) -> Response:
    def read(request: Request):
        f, _, rows = _installers(request, admin)
        return f, rows

    return _exported(
        request,
        admin,
        "installers",
        fmt,
        read=read,
        table=lambda rows, _language: installer_table(rows),
        columns=INSTALLER_COLUMNS,
        title="Installers",
    )


@router.get("/installers.csv")
def installers_csv(request: Request, admin: CurrentAdmin) -> Response:
    return _installers_exported(request, admin, "csv")


@router.get("/installers.xlsx")
def installers_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    return _installers_exported(request, admin, "xlsx")


@router.get("/installers/{installer_id}")
def installer_drilldown(request: Request, admin: CurrentAdmin, installer_id: str) -> Response:
    if not installer_id.isdigit() or not 0 < int(installer_id) < 2**31:
        return not_found(request, admin, f"installer {installer_id[:20]}")
    try:
        f = read_filters(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    with session_scope() as session:
        installer = session.get(Installer, int(installer_id))
        if installer is None:
            return not_found(request, admin, f"installer #{installer_id}")
        name, company = installer.name, installer.company
        mine = replace(f, installer_id=installer.id, tier="")
        view = overview(session, mine)
        rows = installer_rows(session, mine)
    language = language_of(admin)
    charts = overview_charts(view, language, labels_for(language))
    return _page(
        request,
        admin,
        "admin/reports/installer_detail.html",
        f,
        installer_id=int(installer_id),
        name=name,
        company=company,
        rows=rows,
        hide_installer_filter=True,
        base_path="/admin/reports/installers",
        view=view,
        charts=charts,
        columns=INSTALLER_COLUMNS,
    )


# ------------------------------------------------------------------ sources -----------------
def source_table(rows: list[SourceRow], labels: dict[str, str]) -> list[list]:
    return [
        [
            labels.get(row.source, row.source),
            row.leads,
            row.duplicates,
            row.quarantined,
            row.accepted,
            row.won,
            row.quoted_value,
            _rounded(row.acceptance_rate),
            _rounded(row.won_rate),
        ]
        for row in rows
    ]


def _sources(request: Request):
    f = read_filters(request)
    with session_scope() as session:
        return f, source_rows(session, f)


@router.get("/sources")
def sources_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f, rows = _sources(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    return _page(request, admin, "admin/reports/sources.html", f, rows=rows)


def _sources_exported(request: Request, admin: AdminIdentity, fmt: str) -> Response:
    return _exported(
        request,
        admin,
        "sources",
        fmt,
        read=_sources,
        table=lambda rows, language: source_table(rows, labels_for(language)),
        columns=SOURCE_COLUMNS,
        title="Sources",
    )


@router.get("/sources.csv")
def sources_csv(request: Request, admin: CurrentAdmin) -> Response:
    return _sources_exported(request, admin, "csv")


@router.get("/sources.xlsx")
def sources_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    return _sources_exported(request, admin, "xlsx")


# ------------------------------------------------------------------ service -----------------
@router.get("/service")
def service_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f = read_filters(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    at = now()
    with session_scope() as session:
        lists = service_lists(session, f, at)
    return _page(request, admin, "admin/reports/service.html", f, lists=lists, at=at)
