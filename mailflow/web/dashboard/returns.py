"""Reporting a bad lead from the dashboard's lead page (#20):
``POST /dashboard/leads/<id>/report`` (the card is :mod:`mailflow.web.dashboard.return_box`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain import returns as rules
from mailflow.i18n import pick_language
from mailflow.leads import returns
from mailflow.routing.offers import lock_lead
from mailflow.web.dashboard.common import redirect
from mailflow.web.dashboard.labels import PREFIX
from mailflow.web.dashboard.lead import _lead_page
from mailflow.web.dashboard.rendering import _message
from mailflow.web.dashboard.return_box import read_form, refusal_text
from mailflow.web.dashboard.signin import _guard_post

router = APIRouter()


@router.post(f"{PREFIX}/leads/{{lead_id}}/report", include_in_schema=False)
async def report_lead(lead_id: str, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_report, lead_id, request, form, get_settings())


def _report(lead_id: str, request: Request, form: dict, settings: Settings) -> Response:
    at = now()
    with session_scope(settings) as session:
        who = _guard_post(session, request, form, settings, at)
        if isinstance(who, Response):
            return who
        number = int(lead_id) if lead_id.isdigit() and len(lead_id) < 12 else None
        lead = lock_lead(session, number) if number else None
        if lead is None or lead.assigned_installer_id != who.installer.id:
            return _message("not_found", who)
        reason, attempts, note = read_form(form)
        try:
            made = returns.report(
                session,
                lead,
                who.installer,
                reason=reason,
                attempts=attempts,
                note=note,
                via="dashboard",
                now=at,
                settings=settings,
            )
        except rules.ReportRefused as refused:
            # Refused before anything was written: the page again, saying why.
            language = pick_language(who.installer.language)
            return _lead_page(
                session, who, lead, at, status_code=409, problem=refusal_text(refused, language)
            )
        if made.state == rules.APPROVED and lead.assigned_installer_id != who.installer.id:
            return redirect(f"{PREFIX}/?done=returned")
        done = "returned" if made.state == rules.APPROVED else "reported"
        return redirect(f"{PREFIX}/leads/{lead.id}?done={done}")
