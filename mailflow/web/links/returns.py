"""The report link of the acceptance email ``/l/return/<token>`` (#20): a one-time link, valid
for the report window, that reports the lead as a bad lead. GET shows the form, the POST
reports it (the link is then used); a used, expired or changed link gets its problem page.
The rules are in :mod:`mailflow.domain.returns`, the use case in :mod:`mailflow.leads.returns`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain import returns as rules
from mailflow.leads import returns
from mailflow.links import tokens
from mailflow.models import Installer, Lead
from mailflow.routing.offers import lock_lead
from mailflow.web.csrf import FIELD as CSRF_FIELD
from mailflow.web.csrf import CsrfForm, page_token, with_cookie
from mailflow.web.dashboard.return_box import read_form, reasons, refusal_text
from mailflow.web.deps import SettingsDep, link_language, token_language
from mailflow.web.errors import problem
from mailflow.web.pages import render_page

router = APIRouter()
PURPOSE = "return"


def _load(session, settings: Settings, token: str, request: Request):
    """The link, its lead and installer and the reader's language, or the page to show."""
    try:
        link = tokens.verify(session, settings, PURPOSE, token, now=now())
    except tokens.LinkError as exc:
        return None, problem(exc.code, token_language(session, settings, PURPOSE, token, request))
    language = link_language(session, link.installer_id, request)
    lead = session.get(Lead, link.lead_id)
    if lead is None or lead.assigned_installer_id != link.installer_id:
        return None, problem("not_yours", language)
    return (link, lead, session.get(Installer, link.installer_id), language), None


def _form(
    lead: Lead,
    language: str,
    csrf: str,
    settings: Settings,
    *,
    error: str | None = None,
    values: dict | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        "links/return.html",
        language,
        status_code=status_code,
        lead_ref=lead.id,
        reasons=reasons(language),
        min_attempts=settings.return_min_attempts,
        csrf_token=csrf,
        error=error,
        values=values or {},
    )


@router.get("/l/return/{token}", include_in_schema=False)
async def show(token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    return await run_in_threadpool(_show, token, request, settings)


def _show(token: str, request: Request, settings: Settings) -> HTMLResponse:
    csrf = page_token(request)
    with session_scope(settings) as session:
        loaded, page = _load(session, settings, token, request)
        if page is not None:
            return page
        _link, lead, _installer, language = loaded
        return with_cookie(_form(lead, language, csrf, settings), csrf, settings)


@router.post("/l/return/{token}", include_in_schema=False)
async def act(token: str, request: Request, form: CsrfForm, settings: SettingsDep) -> HTMLResponse:
    fields = {k: str(v) for k, v in form.items() if k != CSRF_FIELD}
    return await run_in_threadpool(
        _act, token, fields, request, settings, str(form.get(CSRF_FIELD))
    )


def _act(token: str, fields: dict, request: Request, settings: Settings, csrf: str) -> HTMLResponse:
    at = now()
    with session_scope(settings) as session:
        loaded, page = _load(session, settings, token, request)
        if page is not None:
            return page
        link, lead, installer, language = loaded
        lead = lock_lead(session, lead.id)
        reason, attempts, note = read_form(fields)
        try:
            made = returns.report(
                session,
                lead,
                installer,
                reason=reason,
                attempts=attempts,
                note=note,
                via="email link",
                now=at,
                settings=settings,
            )
            tokens.consume(session, link, now=at)
        except rules.ReportRefused as refused:
            # Refused before anything was written; the link still works (within its window).
            return _form(
                lead,
                language,
                csrf,
                settings,
                error=refusal_text(refused, language),
                values=fields,
                status_code=409,
            )
        except tokens.LinkUsed:
            session.rollback()
            return problem("used", language)
        return render_page(
            "links/returned.html",
            language,
            lead_ref=lead.id,
            status=made.state,
            dashboard_url=f"{settings.base_url.rstrip('/')}/dashboard/",
        )
