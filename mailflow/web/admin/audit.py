"""The audit log: every admin action (web pages and CLI) with who, when, what and from where;
and its page, ``/admin/audit``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import AuditEntry
from mailflow.web.admin.auth import AdminIdentity, CurrentAdmin
from mailflow.web.admin.rendering import render

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE_SIZE = 100


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    summary: str | None = None,
    data: dict | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction (so it exists exactly when the action does)."""
    entry = AuditEntry(
        at=now(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:64],
        summary=(summary or None) and summary[:2000],
        data={k: v for k, v in (data or {}).items() if v is not None},
        ip=ip,
    )
    session.add(entry)
    return entry


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def record_web(
    session: Session,
    request: Request,
    admin: AdminIdentity,
    action: str,
    **kwargs: Any,
) -> AuditEntry:
    return record(session, admin.email, action, ip=client_ip(request), **kwargs)


@router.get("/audit")
def audit_page(
    request: Request,
    admin: CurrentAdmin,
    action: str | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    before: int | None = None,
) -> Response:
    filters = {
        "action": (action or "").strip()[:64],
        "actor": (actor or "").strip()[:320],
        "object_type": (object_type or "").strip()[:32],
        "object_id": (object_id or "").strip()[:64],
    }
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE_SIZE)
    for name, value in filters.items():
        if value:
            query = query.where(getattr(AuditEntry, name) == value)
    if before:
        query = query.where(AuditEntry.id < before)
    with session_scope() as session:
        rows = list(session.scalars(query))
        actions = sorted(set(session.scalars(select(AuditEntry.action).distinct())))
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    return render(
        request,
        "admin/audit.html",
        admin=admin,
        rows=rows,
        filters=filters,
        actions=actions,
        older=older,
        before=before,
    )
