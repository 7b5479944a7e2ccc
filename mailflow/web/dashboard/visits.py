"""Booking, moving and cancelling a site visit from the lead page."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.lifecycle.visits import book_visit, cancel_visit
from mailflow.web.dashboard.common import redirect
from mailflow.web.dashboard.labels import PREFIX
from mailflow.web.dashboard.lead import _lead_id, _lead_page, _owned_lead
from mailflow.web.dashboard.rendering import _message
from mailflow.web.dashboard.signin import _guard_post
from mailflow.web.validation import error_summary

log = logging.getLogger(__name__)
router = APIRouter()


@router.post(f"{PREFIX}/leads/{{lead_id}}/visit", include_in_schema=False)
async def lead_visit(lead_id: str, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_lead_visit, lead_id, request, form, get_settings())


def _lead_visit(lead_id: str, request: Request, form: dict, settings: Settings) -> Response:
    """Book, move (same form again) or cancel the site visit; the customer gets the invitation."""

    at = now()
    with session_scope(settings) as session:
        who = _guard_post(session, request, form, settings, at)
        if isinstance(who, Response):
            return who
        lead = _owned_lead(session, who, _lead_id(lead_id), lock=True)
        if lead is None:
            return _message("not_found", who)
        try:
            with session.begin_nested():
                if form.get("action") == "cancel":
                    cancel_visit(session, lead, who.installer, now=at, settings=settings)
                else:
                    book_visit(session, lead, who.installer, form, now=at, settings=settings)
        except (StepInvalid, NotYours) as exc:
            errors = getattr(exc, "errors", {"date": "not possible now"})
            return _lead_page(
                session,
                who,
                lead,
                at,
                status_code=422,
                problem=error_summary(errors, who.installer.language),
            )
        return redirect(f"{PREFIX}/leads/{lead.id}?done=saved#visit")
