"""Internal notes and documents of a lead."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.leads import privacy
from mailflow.models import (
    Lead,
    LeadDocument,
    LeadNote,
)
from mailflow.private_files import open_private, private_dir
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import (
    check_content_length,
    field,
    not_found,
    problem,
    redirect,
    safe_filename,
    upload,
    valid_id,
)
from mailflow.web.admin.leads.common import MAX_NOTE
from mailflow.web.admin.rendering import flash

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


@router.post("/leads/{lead_id}/notes")
def note_add(request: Request, lead_id: int, action: Action = Depends(require_action)) -> Response:
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    body = field(action.form, "body", MAX_NOTE + 1)
    if not body:
        flash(request, "The note is empty.", "error")
        return redirect(f"/admin/leads/{lead_id}#notes")
    if len(body) > MAX_NOTE:
        flash(request, f"A note has at most {MAX_NOTE} characters.", "error")
        return redirect(f"/admin/leads/{lead_id}#notes")
    with session_scope() as session:
        if session.get(Lead, lead_id) is None:
            return not_found(request, action.admin, f"lead #{lead_id}")
        note = LeadNote(lead_id=lead_id, author=action.admin.email, body=body, created_at=now())
        session.add(note)
        session.flush()
        record_web(
            session,
            request,
            action.admin,
            "note.add",
            object_type="lead",
            object_id=lead_id,
            data={"note_id": note.id},
        )
    flash(request, "Note added.")
    return redirect(f"/admin/leads/{lead_id}#notes")


@router.post("/leads/{lead_id}/notes/{note_id}/delete")
def note_delete(
    request: Request, lead_id: int, note_id: int, action: Action = Depends(require_action)
) -> Response:
    if not (valid_id(lead_id) and valid_id(note_id)):
        return not_found(request, action.admin, f"note #{note_id}")
    with session_scope() as session:
        note = session.get(LeadNote, note_id)
        if note is None or note.lead_id != lead_id:
            return not_found(request, action.admin, f"note #{note_id} on lead #{lead_id}")
        session.delete(note)
        record_web(
            session,
            request,
            action.admin,
            "note.delete",
            object_type="lead",
            object_id=lead_id,
            data={"note_id": note_id},
        )
    flash(request, "Note deleted.")
    return redirect(f"/admin/leads/{lead_id}#notes")


def _upload_limit(request: Request) -> None:
    check_content_length(request, get_settings().document_max_bytes)


@router.post("/leads/{lead_id}/documents")
def document_upload(
    request: Request,
    lead_id: int,
    _limit: None = Depends(_upload_limit),
    action: Action = Depends(require_action),
) -> Response:
    settings = get_settings()
    back = f"/admin/leads/{lead_id}#documents"
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    file = upload(action.form)
    if file is None or not file.filename:
        flash(request, "Choose a file to upload.", "error")
        return redirect(back)
    name = safe_filename(file.filename)
    if name is None:
        flash(
            request,
            "That file name is not allowed: no path, no leading dot, no control or special "
            'characters (/ \\ : * ? " < > |), at most 200 characters. Rename the file.',
            "error",
        )
        return redirect(back)
    limit = settings.document_max_bytes
    with session_scope() as session:
        if session.get(Lead, lead_id) is None:
            return not_found(request, action.admin, f"lead #{lead_id}")
    directory = privacy.documents_dir(settings, lead_id)
    private_dir(directory)
    stored = secrets.token_hex(16)
    target = directory / stored
    digest, size = hashlib.sha256(), 0
    file.file.seek(0)
    with open_private(target, exclusive=True) as out:
        while chunk := file.file.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                break
            digest.update(chunk)
            out.write(chunk)
    if size > limit:
        target.unlink(missing_ok=True)
        flash(request, f"The file is too large: at most {limit // (1024 * 1024)} MB.", "error")
        return redirect(back)
    if size == 0:
        target.unlink(missing_ok=True)
        flash(request, "The file is empty.", "error")
        return redirect(back)
    content_type = (file.content_type or "application/octet-stream")[:255]
    try:
        with session_scope() as session:
            document = LeadDocument(
                lead_id=lead_id,
                filename=name,
                stored_name=stored,
                content_type=content_type,
                size=size,
                sha256=digest.hexdigest(),
                uploaded_at=now(),
                uploaded_by=action.admin.email,
            )
            session.add(document)
            session.flush()
            record_web(
                session,
                request,
                action.admin,
                "document.upload",
                object_type="lead",
                object_id=lead_id,
                data={"document_id": document.id, "filename": name, "size": size},
            )
    except Exception:
        target.unlink(missing_ok=True)
        raise
    flash(request, f"{name} is attached.")
    return redirect(back)


def _document(session, lead_id: int, document_id: int) -> LeadDocument | None:
    if not (valid_id(lead_id) and valid_id(document_id)):
        return None
    document = session.get(LeadDocument, document_id)
    return document if document is not None and document.lead_id == lead_id else None


@router.get("/leads/{lead_id}/documents/{document_id}")
def document_download(
    request: Request,
    lead_id: int,
    document_id: int,
    admin: CurrentAdmin,
) -> Response:
    settings = get_settings()
    with session_scope() as session:
        document = _document(session, lead_id, document_id)
        if document is None:
            return not_found(request, admin, f"document #{document_id} on lead #{lead_id}")
        path: Path = privacy.documents_dir(settings, lead_id) / document.stored_name
        filename = document.filename
    if not path.is_file():
        return problem(request, admin, 410, "Gone", f"The file of {filename} is missing.")
    # Always a download, never rendered here (an uploaded HTML file must not run in the admin).
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=filename,
        content_disposition_type="attachment",
    )


@router.post("/leads/{lead_id}/documents/{document_id}/delete")
def document_delete(
    request: Request, lead_id: int, document_id: int, action: Action = Depends(require_action)
) -> Response:
    settings = get_settings()
    with session_scope() as session:
        document = _document(session, lead_id, document_id)
        if document is None:
            return not_found(request, action.admin, f"document #{document_id} on lead #{lead_id}")
        filename = document.filename
        privacy.delete_document_file(settings, document)
        session.delete(document)
        record_web(
            session,
            request,
            action.admin,
            "document.delete",
            object_type="lead",
            object_id=lead_id,
            data={"document_id": document_id, "filename": filename},
        )
    flash(request, f"{filename} is deleted.")
    return redirect(f"/admin/leads/{lead_id}#documents")
