"""Data out of the admin console: lead exports (CSV, XLSX) with the list's filters, a
selection (``?id=``) and a choice of columns (``?column=``, keys of
``mailflow.leads.export_columns``), and installer exports. Every export is written to the audit
log (who took which data out). Imports are in ``imports.py``.

The XLSX files are made to be worked with: the header row frozen and auto-filtered, dates as
date cells in the admin time zone (named in the header), numbers as numbers, each detail in
its own column, column widths set. An export can be imported again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from starlette.background import BackgroundTask

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.installers.io import COLUMNS as INSTALLER_COLUMNS
from mailflow.installers.io import export_row as installer_export_row
from mailflow.leads import export_columns as ec
from mailflow.models import Installer, Lead
from mailflow.tabular import SheetColumn, csv_chunks, write_sheet
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, AdminIdentity, CurrentAdmin, require_read_form
from mailflow.web.admin.common import valid_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_stream(columns: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    for chunk in csv_chunks(columns, rows, bom=True):
        yield chunk.encode()


def _stamp() -> str:
    return now().strftime("%Y%m%d-%H%M")


def audit_export(request: Request, admin: AdminIdentity, what: str, fmt: str, params) -> None:
    with session_scope() as session:
        record_web(
            session,
            request,
            admin,
            f"{what}.export",
            summary=f"{what} exported as {fmt.upper()}",
            data={"format": fmt, "filters": params or None},
        )


# ------------------------------------------------------------------ lead exports ------------
MAX_IDS = 10_000  # ?id= values (an "export selection" of the lead table)


def _selected_ids(params) -> list[int] | None:
    """The ``id=`` values (None: no selection); anything not a lead number is left out."""
    values = params.getlist("id")
    if not values:
        return None
    ids = [int(v) for v in values[:MAX_IDS] if v.strip().isdigit() and valid_id(int(v))]
    return list(dict.fromkeys(ids))


def _lead_ids(filters: lq.LeadFilters, sort: str, selected: list[int] | None) -> list[int]:
    settings = get_settings()
    with session_scope(settings) as session:
        conds = filters.conditions(session, settings.default_country)
        query = select(Lead.id).where(*conds).order_by(*lq.order_by(sort))
        if selected is not None:
            query = query.where(Lead.id.in_(selected or [0]))
        return list(session.scalars(query))


def _iter_leads(ids: list[int], chunk: int = 500) -> Iterator[Lead]:
    """The leads in ``ids``'s order, read in short transactions (a long read would hold
    SQLite's lock and make intake wait)."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with session_scope() as session:
            found = {
                lead.id: lead
                for lead in session.scalars(
                    select(Lead)
                    .where(Lead.id.in_(part))
                    .options(joinedload(Lead.assigned_installer))
                )
            }
        yield from (found[i] for i in part if i in found)


def _detail_keys(ids: list[int], chunk: int = 1000) -> list[str]:
    def details():
        for start in range(0, len(ids), chunk):
            with session_scope() as session:
                yield from session.scalars(
                    select(Lead.details).where(Lead.id.in_(ids[start : start + chunk]))
                )

    return ec.detail_keys_of(details())


def admin_zone_name() -> str:
    """The admin time zone (MAILFLOW_ADMIN_TIME_ZONE; UTC if it does not resolve)."""
    name = get_settings().admin_time_zone or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _lead_export(params) -> tuple[list[int], list[str], dict]:
    """What to export from the list's parameters (a query string, or the ticked rows' form)."""
    filters = lq.LeadFilters.parse(params)
    sort = lq.parse_sort(params.get("sort"))
    selected = _selected_ids(params)
    ids = _lead_ids(filters, sort, selected)
    keys = ec.resolve(params.getlist("column"), lambda: _detail_keys(ids))
    audit = {**filters.params(), **({"ids": len(selected)} if selected is not None else {})}
    if params.getlist("column"):
        audit["columns"] = ",".join(keys)[:500]
    return ids, keys, audit


@router.get("/leads/export.csv")
def leads_export_csv(request: Request, admin: CurrentAdmin) -> Response:
    ids, keys, audit = _lead_export(request.query_params)
    audit_export(request, admin, "leads", "csv", audit)
    rows = ([ec.cell(lead, k) for k in keys] for lead in _iter_leads(ids))
    return StreamingResponse(
        csv_stream(keys, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="leads-{_stamp()}.csv"'},
    )


def _xlsx_response(columns: list[str], rows: Iterator[list], title: str, name: str) -> Response:
    sheet = [SheetColumn(c) for c in columns]
    return sheet_response(sheet, rows, title, name)


def sheet_response(
    columns: list[SheetColumn], rows: Iterator[list], title: str, name: str
) -> Response:
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", prefix="mailflow-export-")
    os.close(fd)
    try:
        write_sheet(Path(tmp), columns, rows, title)
    except BaseException:
        os.unlink(tmp)
        raise
    return FileResponse(
        tmp,
        media_type=XLSX_TYPE,
        filename=name,
        content_disposition_type="attachment",
        background=BackgroundTask(os.unlink, tmp),
    )


@router.get("/leads/export.xlsx")
def leads_export_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    return _leads_xlsx(request, admin, request.query_params)


@router.post("/leads/export.xlsx")
def leads_export_selection(request: Request, read: Action = Depends(require_read_form)) -> Response:
    """The table's "export selection": a POST of the ticked rows' form, so the form's CSRF token
    and the ids stay out of URLs (and so out of logs and the browser's history)."""
    return _leads_xlsx(request, read.admin, read.form)


def _leads_xlsx(request: Request, admin: AdminIdentity, params) -> Response:
    ids, keys, audit = _lead_export(params)
    audit_export(request, admin, "leads", "xlsx", audit)
    name = admin_zone_name()
    zone = ZoneInfo(name)
    columns = [SheetColumn(ec.header(k, name), ec.width(k)) for k in keys]
    rows = ([ec.cell(lead, k, zone=zone) for k in keys] for lead in _iter_leads(ids))
    return sheet_response(columns, rows, "Leads", f"leads-{_stamp()}.xlsx")


# ------------------------------------------------------------------ installer exports -------
def _installer_rows() -> Iterator[list]:
    with session_scope() as session:
        rows = [
            installer_export_row(i)
            for i in session.scalars(select(Installer).order_by(Installer.email))
        ]
    yield from rows


@router.get("/installers/export.csv")
def installers_export_csv(request: Request, admin: CurrentAdmin) -> Response:
    audit_export(request, admin, "installers", "csv", None)
    return StreamingResponse(
        csv_stream(INSTALLER_COLUMNS, _installer_rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="installers-{_stamp()}.csv"'},
    )


@router.get("/installers/export.xlsx")
def installers_export_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    audit_export(request, admin, "installers", "xlsx", None)
    return _xlsx_response(
        INSTALLER_COLUMNS, _installer_rows(), "Installers", f"installers-{_stamp()}.xlsx"
    )
