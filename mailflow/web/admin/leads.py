"""The lead pages of the admin console: the pipeline summary, the lead list (table, grid and
kanban views with filters, search, sorting, chosen columns), the lead detail with its actions
(assign/reassign, back to rotation, close, archive, spam, edit, erase), internal notes and
documents.

Pages need a signed-in admin (``require_admin``); every POST needs the session's CSRF token and
the ``admin`` role (``require_action``): a viewer sees everything and changes nothing. Every
action is written to the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.leads import admin_actions, privacy
from mailflow.models import (
    HELD_STATUSES,
    InboundMessage,
    Installer,
    Lead,
    LeadDocument,
    LeadNote,
    Offer,
    OutboxMessage,
)
from mailflow.private_files import open_private, private_dir
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, AdminIdentity, require_action, require_admin
from mailflow.web.admin.common import (
    after,
    check_content_length,
    field,
    not_found,
    problem,
    redirect,
    safe_filename,
    upload,
    valid_id,
)
from mailflow.web.admin.rendering import flash, format_instant, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

VIEWS = ("table", "grid", "kanban")
MAX_NOTE = 10_000
EDIT_FIELDS = (*admin_actions.EDITABLE_CUSTOMER, *admin_actions.EDITABLE_LEAD)


def _list_context(request: Request) -> dict:
    params = request.query_params
    filters = lq.LeadFilters.parse(params)
    view = params.get("view") if params.get("view") in VIEWS else "table"
    return {
        "filters": filters,
        "view": view,
        "sort": lq.parse_sort(params.get("sort")),
        "page_no": lq.parse_page(params.get("page")),
        "per": lq.parse_per(params.get("per")),
        "columns": lq.parse_columns(params.getlist("cols")),
    }


# ------------------------------------------------------------------ pipeline ----------------
@router.get("/pipeline")
def pipeline_page(request: Request, admin: AdminIdentity = Depends(require_admin)) -> Response:
    at = now()
    with session_scope() as session:
        summary = lq.pipeline(session, at)
    return render(
        request,
        "admin/pipeline.html",
        admin=admin,
        p=summary,
        now_text=format_instant(at),
        statuses=lq.STATUSES,
    )


# ------------------------------------------------------------------ list --------------------
@router.get("/leads")
def lead_list(request: Request, admin: AdminIdentity = Depends(require_admin)) -> Response:
    ctx = _list_context(request)
    settings = get_settings()
    filters: lq.LeadFilters = ctx["filters"]
    page = columns = None
    with session_scope() as session:
        if ctx["view"] == "kanban":
            columns = lq.kanban(session, filters, default_country=settings.default_country)
        else:
            page = lq.lead_page(
                session,
                filters,
                sort=ctx["sort"],
                page=ctx["page_no"],
                per=ctx["per"],
                default_country=settings.default_country,
            )
        installers = lq.installer_choices(session)
    base = filters.params()
    extra = {"view": ctx["view"], "sort": ctx["sort"], "per": ctx["per"], "cols": ctx["columns"]}
    if ctx["sort"] == lq.DEFAULT_SORT:
        extra.pop("sort")
    if ctx["per"] == lq.DEFAULT_PAGE_SIZE:
        extra.pop("per")
    if ctx["columns"] == lq.DEFAULT_COLUMNS:
        extra.pop("cols")
    if ctx["view"] == "table":
        extra.pop("view")

    def link(**changes) -> str:
        params = {**base, **extra, **changes}
        return lq.url_with("/admin/leads", {k: v for k, v in params.items() if v is not None})

    def sort_link(column: str) -> str:
        current = ctx["sort"]
        wanted = f"-{column}" if current == column else column
        if column in ("created", "updated", "id") and current.lstrip("-") != column:
            wanted = f"-{column}"  # newest first on the first click
        return link(sort=wanted, page=None)

    return render(
        request,
        "admin/leads_list.html",
        admin=admin,
        page=page,
        kanban=columns,
        installers=installers,
        statuses=lq.STATUSES,
        sources=lq.SOURCES,
        products=lq.PRODUCTS,
        all_columns=lq.COLUMNS,
        page_sizes=lq.PAGE_SIZES,
        link=link,
        sort_link=sort_link,
        export_query=lq.url_with("", {**base, "sort": ctx["sort"]}),
        default_sort=lq.DEFAULT_SORT,
        default_per=lq.DEFAULT_PAGE_SIZE,
        custom_columns=ctx["columns"] != lq.DEFAULT_COLUMNS,
        **ctx,
    )


# ------------------------------------------------------------------ detail ------------------
def _installer_options(session, lead: Lead) -> list[dict]:
    """Installers for the assign form: those serving the lead's postcode first."""
    installers = list(session.scalars(select(Installer).order_by(Installer.email)))
    held = lq.open_leads_by_installer(session)
    at = now()
    options = []
    for installer in installers:
        serves = installer.country == lead.country and any(
            lead.postcode.startswith(p) for p in installer.postcode_prefixes
        )
        away = (
            installer.vacation_from is not None
            and installer.vacation_until is not None
            and installer.vacation_from <= at < installer.vacation_until
        )
        notes = [f"{held.get(installer.id, 0)}/{installer.capacity} open", installer.tier]
        if not serves:
            notes.append("outside area")
        if away:
            notes.append("on vacation")
        if installer.bounced_at:
            notes.append("bounced")
        if not installer.active:
            notes.append("deactivated")
        options.append(
            {
                "id": installer.id,
                "label": f"{installer.email} — {installer.name} ({', '.join(notes)})",
                "serves": serves,
                "active": installer.active,
            }
        )
    options.sort(key=lambda o: (not o["serves"], not o["active"], o["label"]))
    return options


@router.get("/leads/{lead_id}")
def lead_detail(
    request: Request, lead_id: int, admin: AdminIdentity = Depends(require_admin)
) -> Response:
    if not valid_id(lead_id):
        return not_found(request, admin, f"lead #{lead_id}")
    with session_scope() as session:
        lead = session.get(
            Lead,
            lead_id,
            options=[
                joinedload(Lead.assigned_installer),
                selectinload(Lead.events),
            ],
        )
        if lead is None:
            return not_found(request, admin, f"lead #{lead_id}")
        offers = list(
            session.scalars(
                select(Offer)
                .where(Offer.lead_id == lead.id)
                .options(joinedload(Offer.installer))
                .order_by(Offer.id)
            )
        )
        notes = list(
            session.scalars(
                select(LeadNote).where(LeadNote.lead_id == lead.id).order_by(LeadNote.id.desc())
            )
        )
        documents = list(
            session.scalars(
                select(LeadDocument)
                .where(LeadDocument.lead_id == lead.id)
                .order_by(LeadDocument.id.desc())
            )
        )
        duplicates = list(
            session.execute(
                select(Lead.id, Lead.status, Lead.created_at)
                .where(Lead.duplicate_of_id == lead.id)
                .order_by(Lead.id)
                .limit(50)
            )
        )
        mails = list(
            session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.to,
                    OutboxMessage.template,
                    OutboxMessage.state,
                    OutboxMessage.created_at,
                    OutboxMessage.subject,
                )
                .where(OutboxMessage.lead_id == lead.id)
                .order_by(OutboxMessage.id.desc())
                .limit(30)
            )
        )
        inbound = (
            session.execute(
                select(InboundMessage.id, InboundMessage.channel, InboundMessage.outcome).where(
                    InboundMessage.id == lead.inbound_id
                )
            ).first()
            if lead.inbound_id
            else None
        )
        installers = _installer_options(session, lead) if admin.can_act else []
        events = list(lead.events)
    held = lead.status in HELD_STATUSES
    return render(
        request,
        "admin/lead_detail.html",
        admin=admin,
        lead=lead,
        offers=offers,
        events=events,
        notes=notes,
        documents=documents,
        duplicates=duplicates,
        mails=mails,
        inbound=inbound,
        installers=installers,
        held=held,
        final=lead.status in admin_actions.FINAL,
        closable=lead.status in admin_actions.CLOSABLE_FROM,
        max_document_mb=get_settings().document_max_bytes // (1024 * 1024),
        event_items=event_items,
    )


def event_items(event) -> list[tuple[str, str]]:
    """An event's data as (name, text) pairs for the timeline (empty values and ``by``, shown
    beside the actor, left out)."""
    items = []
    for key, value in sorted((event.data or {}).items()):
        if key == "by" or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        items.append((key, text[:500]))
    return items


# ------------------------------------------------------------------ actions -----------------
def _act(
    request: Request,
    action: Action,
    lead_id: int,
    name: str,
    work: Callable[[Session], Any],
    *,
    done: str | Callable[[Any], str],
) -> Response:
    """Run ``work(session)`` (an admin_actions call); flash its outcome; audit it."""
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    try:
        with session_scope() as session:
            outcome = work(session)
            record_web(
                session,
                request,
                action.admin,
                name,
                object_type="lead",
                object_id=lead_id,
                summary=done if isinstance(done, str) else None,
                data={
                    key: field(action.form, key)
                    for key in ("reason", "installer_id")
                    if field(action.form, key)
                },
            )
    except admin_actions.LeadMissing:
        return not_found(request, action.admin, f"lead #{lead_id}")
    except admin_actions.ActionRefused as exc:
        flash(request, str(exc), "error")
        return after(action, f"/admin/leads/{lead_id}")
    log.info("admin %s: %s on lead %s", action.admin.email, name, lead_id)
    flash(request, done(outcome) if callable(done) else done)
    return after(action, f"/admin/leads/{lead_id}")


@router.post("/leads/{lead_id}/assign")
def lead_assign(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    raw = field(action.form, "installer_id", 12)
    if not raw.isdigit() or not valid_id(int(raw)):
        flash(request, "Choose an installer.", "error")
        return after(action, f"/admin/leads/{lead_id}")
    installer_id = int(raw)

    def work(session):
        lead = admin_actions.assign(
            session,
            lead_id,
            installer_id,
            by=action.admin.email,
            reason=field(action.form, "reason"),
            now=now(),
            settings=get_settings(),
        )
        return lead.assigned_installer.email if lead.assigned_installer else installer_id

    return _act(
        request,
        action,
        lead_id,
        "lead.assign",
        work,
        done=lambda email: f"Lead #{lead_id} is assigned to {email}; they have been emailed.",
    )


@router.post("/leads/{lead_id}/rotate")
def lead_rotate(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    def work(session):
        offer = admin_actions.back_to_rotation(
            session,
            lead_id,
            by=action.admin.email,
            reason=field(action.form, "reason"),
            now=now(),
            settings=get_settings(),
        )
        return offer.installer.email if offer is not None else None

    return _act(
        request,
        action,
        lead_id,
        "lead.rotate",
        work,
        done=lambda email: (
            f"Lead #{lead_id} is back in rotation: offered to {email}."
            if email
            else f"Lead #{lead_id} is back in rotation: nobody is eligible, it is in the pool."
        ),
    )


@router.post("/leads/{lead_id}/close")
def lead_close(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    return _act(
        request,
        action,
        lead_id,
        "lead.close",
        lambda session: admin_actions.close(
            session, lead_id, by=action.admin.email, reason=field(action.form, "reason"), now=now()
        ),
        done=f"Lead #{lead_id} is closed (failed).",
    )


def _flag_route(path: str, name: str, fn, value: bool, message: str) -> None:
    def handler(request: Request, lead_id: int, action: Action = Depends(require_action)):
        return _act(
            request,
            action,
            lead_id,
            name,
            lambda session: fn(session, lead_id, value, by=action.admin.email, now=now()),
            done=message.format(id=lead_id),
        )

    handler.__name__ = f"lead_{name.replace('.', '_')}"
    router.post(path)(handler)


_flag_route(
    "/leads/{lead_id}/archive",
    "lead.archive",
    admin_actions.set_archived,
    True,
    "Lead #{id} is archived: it is hidden from the lists unless you filter for archived leads.",
)
_flag_route(
    "/leads/{lead_id}/unarchive",
    "lead.unarchive",
    admin_actions.set_archived,
    False,
    "Lead #{id} is no longer archived.",
)
_flag_route(
    "/leads/{lead_id}/spam",
    "lead.spam",
    admin_actions.set_spam,
    True,
    "Lead #{id} is marked as spam: closed and archived.",
)
_flag_route(
    "/leads/{lead_id}/unspam",
    "lead.unspam",
    admin_actions.set_spam,
    False,
    "Lead #{id} is no longer marked as spam (put it back into rotation to offer it).",
)


# ------------------------------------------------------------------ edit --------------------
def _edit_page(request, admin, lead, values, errors, status_code=200) -> Response:
    from mailflow.leads.schema import BuildingType, GridConnection, Product, Source

    return render(
        request,
        "admin/lead_edit.html",
        admin=admin,
        status_code=status_code,
        lead=lead,
        values=values,
        errors=errors,
        products=[p.value for p in Product],
        building_types=[b.value for b in BuildingType],
        grid_connections=[g.value for g in GridConnection],
        sources=[s.value for s in Source],
    )


def _values(lead: Lead) -> dict[str, str]:
    current = admin_actions.current_fields(lead)
    values = {k: v for k, v in current.items() if k != "customer"}
    values.update(current["customer"])
    return {k: "" if v is None else str(v) for k, v in values.items()}


@router.get("/leads/{lead_id}/edit")
def lead_edit_form(
    request: Request, lead_id: int, admin: AdminIdentity = Depends(require_admin)
) -> Response:
    if not valid_id(lead_id):
        return not_found(request, admin, f"lead #{lead_id}")
    with session_scope() as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            return not_found(request, admin, f"lead #{lead_id}")
        values = _values(lead)
    return _edit_page(request, admin, lead, values, {})


@router.post("/leads/{lead_id}/edit")
def lead_edit(request: Request, lead_id: int, action: Action = Depends(require_action)) -> Response:
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    wanted = {name: field(action.form, name, 20000) for name in EDIT_FIELDS if name in action.form}
    try:
        with session_scope() as session:
            changed = admin_actions.edit(
                session, lead_id, wanted, by=action.admin.email, now=now(), settings=get_settings()
            )
            if changed:
                record_web(
                    session,
                    request,
                    action.admin,
                    "lead.edit",
                    object_type="lead",
                    object_id=lead_id,
                    data={"fields": changed},
                )
    except admin_actions.InvalidEdit as exc:
        with session_scope() as session:
            lead = session.get(Lead, lead_id)
        return _edit_page(
            request, action.admin, lead, {**_values(lead), **wanted}, exc.errors, status_code=422
        )
    except admin_actions.LeadMissing:
        return not_found(request, action.admin, f"lead #{lead_id}")
    except admin_actions.ActionRefused as exc:
        flash(request, str(exc), "error")
        return redirect(f"/admin/leads/{lead_id}")
    flash(
        request,
        f"Saved: {', '.join(c.replace('_', ' ') for c in changed)}."
        if changed
        else "Nothing changed.",
    )
    return redirect(f"/admin/leads/{lead_id}")


# ------------------------------------------------------------------ erase -------------------
@router.post("/leads/{lead_id}/erase")
def lead_erase(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    if field(action.form, "confirm") != "erase":
        flash(request, "Tick the confirmation box to erase the customer's personal data.", "error")
        return redirect(f"/admin/leads/{lead_id}")
    settings = get_settings()
    with session_scope() as session:
        if session.get(Lead, lead_id) is None:
            return not_found(request, action.admin, f"lead #{lead_id}")
        result = privacy.erase_customer(
            session, lead_id=lead_id, by=action.admin.email, now=now(), settings=settings
        )
        # The log says what was erased, never who: that would keep what the customer asked
        # us to forget.
        record_web(
            session,
            request,
            action.admin,
            "customer.erase",
            object_type="lead",
            object_id=lead_id,
            summary=result.summary(),
            data={
                "leads": result.leads,
                "inbound": result.inbound,
                "outbox": result.outbox,
                "notes": result.notes,
                "documents": result.documents,
            },
        )
    privacy.forget_on_disk(settings)
    log.info("admin %s erased the customer of lead %s", action.admin.email, lead_id)
    flash(request, f"Customer erased: {result.summary()}.")
    return redirect(f"/admin/leads/{lead_id}")


# ------------------------------------------------------------------ notes -------------------
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


# ------------------------------------------------------------------ documents ---------------
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
    admin: AdminIdentity = Depends(require_admin),
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
