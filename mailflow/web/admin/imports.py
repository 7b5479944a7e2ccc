"""Imports of leads and installers (CSV, XLSX) as background jobs.

The upload is stored and queued (``mailflow.leads.imports``); the admin lands on the import's
page, ``/admin/imports/{id}``, which reloads itself (no script) while the job runs, shows a
progress bar and, at the end, the summary and the rejected rows with their reasons, as a file
to download (CSV or XLSX: the file's own columns and a ``reason`` column), to correct and
import again. The page can be left and found again in the list of recent imports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.row_problems import describe_row
from mailflow.i18n import DEFAULT_LANGUAGE, translations
from mailflow.installers.io import COLUMNS as INSTALLER_COLUMNS
from mailflow.leads import imports as jobs
from mailflow.leads.io import EXPORT_COLUMNS
from mailflow.models import ImportJob
from mailflow.tabular import SheetColumn
from mailflow.web.admin import data
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import (
    check_content_length,
    not_found,
    redirect,
    safe_filename,
    upload,
    valid_id,
)
from mailflow.web.admin.rendering import render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

REFRESH_SECONDS = 2
SHOWN_REJECTIONS = 200  # on the page; the file holds them all
KINDS = {
    "leads": {
        "back": "/admin/leads",
        "columns": ", ".join(EXPORT_COLUMNS[1:-1]) + ", details.*",
    },
    "installers": {
        "back": "/admin/installers",
        "columns": ", ".join(INSTALLER_COLUMNS) + " (phone optional)",
    },
}


def _gettext():
    # The admin pages are in English until the admin's language choice reaches them; the
    # reasons are stored as message ids and arguments, so they follow it without a change here.
    return translations(DEFAULT_LANGUAGE).gettext


def _upload_page(request, admin, kind: str, status_code: int = 200, error: str | None = None):
    with session_scope() as session:
        recent = [job for job in jobs.recent_imports(session) if job.kind == kind]
    return render(
        request,
        "admin/import.html",
        admin=admin,
        status_code=status_code,
        kind=kind,
        info=KINDS[kind],
        recent=recent,
        error=error,
        max_mb=jobs.MAX_IMPORT_BYTES // 2**20,
    )


def _upload_limit(request: Request) -> None:
    check_content_length(request, jobs.MAX_IMPORT_BYTES)


def _import_form(kind: str):
    def page(request: Request, admin: CurrentAdmin) -> Response:
        return _upload_page(request, admin, kind)

    page.__name__ = f"{kind}_import_form"
    return page


def _import_upload(kind: str):
    def start(
        request: Request,
        _limit: None = Depends(_upload_limit),
        action: Action = Depends(require_action),
    ) -> Response:
        _ = _gettext()
        settings = get_settings()
        file = upload(action.form)
        if file is None or not file.filename:
            return _upload_page(request, action.admin, kind, 400, _("Choose a file."))
        name = safe_filename(file.filename)
        if name is None or Path(name).suffix.lower() not in jobs.SUFFIXES:
            message = _("The file must be a .csv or .xlsx file with a plain name.")
            return _upload_page(request, action.admin, kind, 400, message)
        content = file.file.read(jobs.MAX_IMPORT_BYTES + 1)
        if len(content) > jobs.MAX_IMPORT_BYTES:
            message = _("The file is too large: at most %(mb)s MB.") % {
                "mb": jobs.MAX_IMPORT_BYTES // 2**20
            }
            return _upload_page(request, action.admin, kind, 413, message)
        try:
            with session_scope(settings) as session:
                job = jobs.create_import(
                    session,
                    settings,
                    kind=kind,
                    filename=name,
                    data=content,
                    created_by=action.admin.email,
                )
                record_web(
                    session,
                    request,
                    action.admin,
                    f"{kind}.import",
                    object_type="import",
                    object_id=job.id,
                    summary=f"{name}: import #{job.id} started",
                    data={"file": name, "import": job.id},
                )
                job_id = job.id
        except jobs.ImportFileError as exc:
            message = _("The file cannot be read: %(reason)s") % {"reason": str(exc)}
            return _upload_page(request, action.admin, kind, 400, message)
        log.info("admin %s started import %s of %s (%s)", action.admin.email, job_id, kind, name)
        return redirect(f"/admin/imports/{job_id}")

    start.__name__ = f"{kind}_import_upload"
    return start


for _kind in KINDS:
    router.get(f"/{_kind}/import")(_import_form(_kind))
    router.post(f"/{_kind}/import")(_import_upload(_kind))


@router.get("/imports")
def imports_list(request: Request, admin: CurrentAdmin) -> Response:
    with session_scope() as session:
        recent = jobs.recent_imports(session, limit=50)
    return render(request, "admin/imports_list.html", admin=admin, recent=recent)


@router.get("/imports/{import_id}")
def import_page(request: Request, admin: CurrentAdmin, import_id: int) -> Response:
    if not valid_id(import_id):
        return not_found(request, admin, "such import")
    gettext = _gettext()
    with session_scope() as session:
        job = session.get(ImportJob, import_id)
        if job is None:
            return not_found(request, admin, "such import")
        shown = []
        if job.rejected:
            for rejection in jobs.rejections(session, import_id):
                if len(shown) >= SHOWN_REJECTIONS:
                    break
                shown.append(
                    (rejection.row, describe_row(rejection.row, rejection.reasons, gettext))
                )
    return render(
        request,
        "admin/import_progress.html",
        admin=admin,
        job=job,
        info=KINDS.get(job.kind, KINDS["leads"]),
        outcomes=[(o, getattr(job, o)) for o in jobs.OUTCOMES.get(job.kind, ())],
        rejections=shown,
        refresh=None if job.finished else REFRESH_SECONDS,
    )


def _rejected_rows(import_id: int, columns: list[str]) -> Iterator[list]:
    gettext = _gettext()
    with session_scope() as session:
        rows = [
            [*(r.data.get(c, "") for c in columns), describe_row(r.row, r.reasons, gettext)]
            for r in jobs.rejections(session, import_id)
        ]
    yield from rows


def _rejected_export(request: Request, admin, import_id: int, fmt: str) -> Response:
    if not valid_id(import_id):
        return not_found(request, admin, "such import")
    with session_scope() as session:
        job = session.get(ImportJob, import_id)
        if job is None:
            return not_found(request, admin, "such import")
        columns = list(job.columns or [])
        kind = job.kind
    reason = "reason" if "reason" not in columns else "rejection reason"
    data.audit_export(request, admin, f"{kind}.rejected", fmt, {"import": import_id})
    name = f"import-{import_id}-rejected.{fmt}"
    if fmt == "csv":
        return StreamingResponse(
            data.csv_stream([*columns, reason], _rejected_rows(import_id, columns)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    sheet = [*(SheetColumn(c) for c in columns), SheetColumn(reason, 70)]
    return data.sheet_response(sheet, _rejected_rows(import_id, columns), "Rejected", name)


@router.get("/imports/{import_id}/rejected.csv")
def rejected_csv(request: Request, admin: CurrentAdmin, import_id: int) -> Response:
    return _rejected_export(request, admin, import_id, "csv")


@router.get("/imports/{import_id}/rejected.xlsx")
def rejected_xlsx(request: Request, admin: CurrentAdmin, import_id: int) -> Response:
    return _rejected_export(request, admin, import_id, "xlsx")
