"""Data in and out of the admin console: lead exports (CSV, XLSX) with the list's filters,
installer exports, and imports of both with a preview before anything is written.

Exports have the columns of ``mailflow leads export`` / ``mailflow installers export`` (so an
export can be imported again) and are written to the audit log (who took which data out).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.installers.io import COLUMNS as INSTALLER_COLUMNS
from mailflow.installers.io import export_row as installer_export_row
from mailflow.installers.io import import_installers
from mailflow.leads.io import EXPORT_COLUMNS, import_leads
from mailflow.leads.io import export_row as lead_export_row
from mailflow.models import Installer
from mailflow.tabular import csv_chunks, write_xlsx
from mailflow.web.admin import imports
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, AdminIdentity, CurrentAdmin, require_action
from mailflow.web.admin.common import check_content_length, field, redirect, safe_filename, upload
from mailflow.web.admin.rendering import flash, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_stream(columns: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    for chunk in csv_chunks(columns, rows, bom=True):
        yield chunk.encode()


def _stamp() -> str:
    return now().strftime("%Y%m%d-%H%M")


def _audit_export(request: Request, admin: AdminIdentity, what: str, fmt: str, params) -> None:
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
def _lead_rows(filters: lq.LeadFilters, sort: str) -> Iterator[list]:
    for lead in lq.iter_leads(get_settings(), filters, sort=sort):
        yield lead_export_row(lead)


@router.get("/leads/export.csv")
def leads_export_csv(request: Request, admin: CurrentAdmin) -> Response:
    filters = lq.LeadFilters.parse(request.query_params)
    sort = lq.parse_sort(request.query_params.get("sort"))
    _audit_export(request, admin, "leads", "csv", filters.params())
    return StreamingResponse(
        csv_stream(EXPORT_COLUMNS, _lead_rows(filters, sort)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="leads-{_stamp()}.csv"'},
    )


def _xlsx_response(columns: list[str], rows: Iterator[list], title: str, name: str) -> Response:
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", prefix="mailflow-export-")
    os.close(fd)
    try:
        write_xlsx(Path(tmp), columns, rows, title)
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
    filters = lq.LeadFilters.parse(request.query_params)
    sort = lq.parse_sort(request.query_params.get("sort"))
    _audit_export(request, admin, "leads", "xlsx", filters.params())
    return _xlsx_response(
        EXPORT_COLUMNS, _lead_rows(filters, sort), "Leads", f"leads-{_stamp()}.xlsx"
    )


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
    _audit_export(request, admin, "installers", "csv", None)
    return StreamingResponse(
        csv_stream(INSTALLER_COLUMNS, _installer_rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="installers-{_stamp()}.csv"'},
    )


@router.get("/installers/export.xlsx")
def installers_export_xlsx(request: Request, admin: CurrentAdmin) -> Response:
    _audit_export(request, admin, "installers", "xlsx", None)
    return _xlsx_response(
        INSTALLER_COLUMNS, _installer_rows(), "Installers", f"installers-{_stamp()}.xlsx"
    )


# ------------------------------------------------------------------ imports -----------------
KINDS = {
    "leads": {
        "title": "Import leads",
        "back": "/admin/leads",
        "columns": ", ".join(EXPORT_COLUMNS[1:-1]) + ", details.*",
    },
    "installers": {
        "title": "Import installers",
        "back": "/admin/installers",
        "columns": ", ".join(INSTALLER_COLUMNS) + " (phone optional)",
    },
}


def _import_page(request, admin, kind: str, status_code: int = 200, **ctx) -> Response:
    return render(
        request,
        "admin/import.html",
        admin=admin,
        status_code=status_code,
        kind=kind,
        info=KINDS[kind],
        preview=ctx.pop("preview", None),
        report=ctx.pop("report", None),
        ref=ctx.pop("ref", None),
        filename=ctx.pop("filename", None),
        error=ctx.pop("error", None),
        **ctx,
    )


def _import_form(kind: str):
    def page(request: Request, admin: CurrentAdmin) -> Response:
        return _import_page(request, admin, kind)

    page.__name__ = f"{kind}_import_form"
    return page


def _upload_limit(request: Request) -> None:
    check_content_length(request, imports.MAX_IMPORT_BYTES)


def _import_preview(kind: str):
    def preview(
        request: Request,
        _limit: None = Depends(_upload_limit),
        action: Action = Depends(require_action),
    ) -> Response:
        settings = get_settings()
        file = upload(action.form)
        name = safe_filename(file.filename) if file is not None and file.filename else None
        if file is None or not file.filename:
            return _import_page(request, action.admin, kind, 400, error="Choose a file.")
        suffix = Path(name or "").suffix.lower()
        if name is None or suffix not in imports.SUFFIXES:
            return _import_page(
                request,
                action.admin,
                kind,
                400,
                error="The file must be a .csv or .xlsx file with a plain name.",
            )
        data = file.file.read(imports.MAX_IMPORT_BYTES + 1)
        if len(data) > imports.MAX_IMPORT_BYTES:
            return _import_page(
                request,
                action.admin,
                kind,
                413,
                error=f"The file is too large: at most {imports.MAX_IMPORT_BYTES // 2**20} MB.",
            )
        ref = imports.store_upload(settings, data, suffix)
        path = imports.stored_upload(settings, ref)
        try:
            result = (
                imports.preview_leads(path, settings)
                if kind == "leads"
                else imports.preview_installers(path, settings)
            )
        except Exception as exc:  # a file that is not what its name says
            log.info("import preview failed", exc_info=True)
            path.unlink(missing_ok=True)
            return _import_page(
                request,
                action.admin,
                kind,
                400,
                error=f"The file cannot be read: {type(exc).__name__}: {exc}"[:500],
            )
        return _import_page(request, action.admin, kind, preview=result, ref=ref, filename=name)

    preview.__name__ = f"{kind}_import_preview"
    return preview


def _import_commit(kind: str):
    def commit(request: Request, action: Action = Depends(require_action)) -> Response:
        settings = get_settings()
        ref = field(action.form, "ref", 100)
        filename = safe_filename(field(action.form, "filename", 200)) or "upload"
        path = imports.stored_upload(settings, ref)
        if path is None:
            flash(
                request,
                "That upload has expired or was imported already: upload it again.",
                "error",
            )
            return redirect(f"/admin/{kind}/import")
        try:
            if kind == "leads":
                report = import_leads(path, settings)
                counts = {
                    o: report.count(o)
                    for o in ("created", "duplicate", "already_imported", "rejected")
                }
            else:
                report = import_installers(path, settings)
                counts = {o: report.count(o) for o in ("created", "updated", "rejected")}
        finally:
            path.unlink(missing_ok=True)
        with session_scope() as session:
            record_web(
                session,
                request,
                action.admin,
                f"{kind}.import",
                summary=f"{filename}: {report.summary()}",
                data={"file": filename, **counts},
            )
        log.info(
            "admin %s imported %s from %s: %s", action.admin.email, kind, filename, report.summary()
        )
        return _import_page(request, action.admin, kind, report=report, filename=filename)

    commit.__name__ = f"{kind}_import_commit"
    return commit


for _kind in KINDS:
    router.get(f"/{_kind}/import")(_import_form(_kind))
    router.post(f"/{_kind}/import")(_import_preview(_kind))
    router.post(f"/{_kind}/import/commit")(_import_commit(_kind))
