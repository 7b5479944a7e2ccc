"""Saved filters: an admin keeps the lead list's current state (filters, sort, view, columns)
under a name, finds it again as a link on the leads page, and deletes it. Each admin sees
their own; saving and deleting are changes (CSRF, ``admin`` role, audit log)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from mailflow.db import session_scope
from mailflow.models import SavedFilter
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, require_action
from mailflow.web.admin.common import after, field, not_found, redirect, valid_id
from mailflow.web.admin.leads.common import _, list_context, list_query
from mailflow.web.admin.rendering import flash

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

MAX_NAME = 100
MAX_QUERY = 4000
MAX_PER_ADMIN = 50


def saved_filters(session: Session, admin_id: int) -> list[SavedFilter]:
    return list(
        session.scalars(
            select(SavedFilter)
            .where(SavedFilter.admin_user_id == admin_id)
            .order_by(func.lower(SavedFilter.name), SavedFilter.id)
        )
    )


def normalised(query: str) -> str:
    """Only what the lead list understands, defaults left out (a hand-made query string
    keeps nothing else)."""
    return list_query(list_context(QueryParams(query[:MAX_QUERY])))


@router.post("/leads/filters")
def save_filter(request: Request, action: Action = Depends(require_action)) -> Response:
    name = " ".join(field(action.form, "name", MAX_NAME * 2).split())[:MAX_NAME]
    query = normalised(field(action.form, "query", MAX_QUERY))
    back = "/admin/leads" + (f"?{query}" if query else "")
    if not name:
        flash(request, _("Give the filter a name.", action.admin), "error")
        return redirect(back)
    with session_scope() as session:
        mine = saved_filters(session, action.admin.id)
        same = next((f for f in mine if f.name.casefold() == name.casefold()), None)
        if same is None and len(mine) >= MAX_PER_ADMIN:
            flash(
                request,
                _(
                    "You have %(n)d saved filters already: delete one first.",
                    action.admin,
                    n=MAX_PER_ADMIN,
                ),
                "error",
            )
            return redirect(back)
        if same is None:
            same = SavedFilter(admin_user_id=action.admin.id, name=name, query=query)
            session.add(same)
        else:
            same.name, same.query = name, query
        session.flush()
        record_web(
            session,
            request,
            action.admin,
            "saved_filter.save",
            object_type="saved_filter",
            object_id=same.id,
            summary=f"{name}: {query or '(no filter)'}",
        )
    log.info("admin %s saved the filter %r", action.admin.email, name)
    flash(request, _("The filter “%(name)s” is saved.", action.admin, name=name))
    return redirect(back)


@router.post("/leads/filters/{filter_id}/delete")
def delete_filter(
    request: Request, filter_id: int, action: Action = Depends(require_action)
) -> Response:
    what = f"saved filter #{filter_id}"
    if not valid_id(filter_id):
        return not_found(request, action.admin, what)
    with session_scope() as session:
        saved = session.get(SavedFilter, filter_id)
        if saved is None or saved.admin_user_id != action.admin.id:
            return not_found(request, action.admin, what)
        name = saved.name
        session.delete(saved)
        record_web(
            session,
            request,
            action.admin,
            "saved_filter.delete",
            object_type="saved_filter",
            object_id=filter_id,
            summary=name,
        )
    flash(request, _("The filter “%(name)s” is deleted.", action.admin, name=name))
    return after(action, "/admin/leads")
