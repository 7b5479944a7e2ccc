"""Editing a lead's fields, and erasing a customer's data."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.schema import BuildingType, GridConnection, Product, Source
from mailflow.leads import admin_actions, privacy
from mailflow.models import (
    Lead,
)
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import (
    field,
    not_found,
    redirect,
    valid_id,
)
from mailflow.web.admin.leads.common import EDIT_FIELDS
from mailflow.web.admin.rendering import flash, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def _edit_page(request, admin, lead, values, errors, status_code=200) -> Response:

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
def lead_edit_form(request: Request, lead_id: int, admin: CurrentAdmin) -> Response:
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
            data=result.audit_data(),
        )
    privacy.forget_on_disk(settings)
    log.info("admin %s erased the customer of lead %s", action.admin.email, lead_id)
    flash(request, f"Customer erased: {result.summary()}.")
    return redirect(f"/admin/leads/{lead_id}")


# ------------------------------------------------------------------ notes -------------------
