"""``/admin/review``: leads held by the intake limit (release them into rotation or reject them
as spam, through the lead actions) and leads declined as spam (confirm the lead was real, and
the declines count in the installers' scores; or mark it as spam)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.leads import admin_actions, review
from mailflow.outbound.names import N_
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import after, not_found, valid_id
from mailflow.web.admin.rendering import flash, render, tr

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/review")
def review_page(request: Request, admin: CurrentAdmin) -> Response:
    with session_scope() as session:
        held = review.held_leads(session)
        declines = review.spam_declines(session)
        for offer in declines:
            _ = offer.lead, offer.installer
        events = {
            lead.id: next((e for e in reversed(lead.events) if e.type == "held"), None)
            for lead in held
        }
    return render(
        request, "admin/review.html", admin=admin, held=held, declines=declines, events=events
    )


@router.post("/review/leads/{lead_id}/real")
def confirm_real(request: Request, lead_id: int, action: Action = Depends(require_action)):
    if not valid_id(lead_id):
        return not_found(request, action.admin, tr(action.admin, N_("lead #%(id)s"), id=lead_id))
    try:
        with session_scope() as session:
            offers = review.confirm_real(session, lead_id, by=action.admin.email, now=now())
            record_web(
                session,
                request,
                action.admin,
                "lead.spam_decline_confirmed",
                object_type="lead",
                object_id=lead_id,
                data={"offers": [o.id for o in offers]},
            )
    except admin_actions.LeadMissing:
        return not_found(request, action.admin, tr(action.admin, N_("lead #%(id)s"), id=lead_id))
    except admin_actions.ActionRefused as exc:
        flash(request, str(exc), "error")
        return after(action, "/admin/review")
    log.info("admin %s: lead %s was real, its spam declines count", action.admin.email, lead_id)
    flash(
        request,
        tr(
            action.admin,
            N_("Lead #%(id)s was real: its declines as spam now count in the scores."),
            id=lead_id,
        ),
    )
    return after(action, "/admin/review")
