"""Status links ``/l/status/<token>``: one link per next step, in the acceptance email and in
every reminder. They work as long as the lead is the installer's (not one-time): GET shows the
step with the fields it needs, the POST records it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from mailflow.app.emails import VISIT, status_links, step_label
from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain import lead as states
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.domain.lead import BOOKABLE
from mailflow.i18n import gettext
from mailflow.lifecycle.service import CONTACT_TYPES, record_status
from mailflow.lifecycle.visits import book_visit
from mailflow.links import tokens
from mailflow.models import Installer, Lead
from mailflow.outbound.emails import N_
from mailflow.outbound.emails import STATUS_NAMES as LEAD_STATUS_NAMES
from mailflow.routing.offers import lock_lead
from mailflow.web.csrf import FIELD as CSRF_FIELD
from mailflow.web.csrf import CsrfForm, page_token, with_cookie
from mailflow.web.dashboard.labels import CONTACT_TYPE_LABELS, DESTRUCTIVE_STEPS
from mailflow.web.dashboard.lead import confirm_destructive
from mailflow.web.deps import SettingsDep, link_language, token_language
from mailflow.web.errors import problem
from mailflow.web.pages import render_page
from mailflow.web.validation import error_texts

router = APIRouter()

STATUS_NAMES = {
    "accepted": N_("Accepted"),
    "contact_attempted": N_("Contact attempted"),
    "first_contact": N_("First contact made"),
    "quote_sent": N_("Quote sent"),
    "order_placed": N_("Order placed"),
    "installation_scheduled": N_("Installation scheduled"),
    "installed": N_("Installed"),
    "failed": N_("Failed: the customer does not want to go on"),
    "follow_up": N_("Remind me later"),
    "released": N_("Given back"),
    "expired": N_("Expired"),
}


def status_name(status: str, language: str) -> str:
    # A status no step leads to (pool, offered, duplicate…): the dashboard's word for it.
    name = STATUS_NAMES.get(status) or LEAD_STATUS_NAMES.get(status, N_("In progress"))
    return gettext(language, name)


def _load(session, settings: Settings, token: str, request: Request):
    """The link, its lead and installer, or the problem page to show instead."""
    try:
        link = tokens.verify(session, settings, "status", token, now=now())
    except tokens.LinkError as exc:
        return None, problem(exc.code, token_language(session, settings, "status", token, request))
    language = link_language(session, link.installer_id, request)
    lead = session.get(Lead, link.lead_id)
    if lead is None or lead.assigned_installer_id != link.installer_id:
        return None, problem("not_yours", language)
    step = str(link.extra.get("s", ""))
    allowed = states.INSTALLER_TRANSITIONS.get(lead.status, ())
    if step == VISIT and lead.status in BOOKABLE:
        allowed = {VISIT}
    if step not in allowed:
        return None, render_page(
            "links/status_refused.html",
            language,
            status_code=409,
            current=status_name(lead.status.value, language),
            wanted=step_label(step, language) if step in (*states.STEP_NAMES, VISIT) else step,
        )
    return (link, lead, session.get(Installer, link.installer_id), step, language), None


@router.get("/l/status/{token}", include_in_schema=False)
async def show(token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    return await run_in_threadpool(_show, token, request, settings)


def _show(token: str, request: Request, settings: Settings) -> HTMLResponse:
    csrf = page_token(request)
    with session_scope(settings) as session:
        loaded, page = _load(session, settings, token, request)
        if page is not None:
            return page
        _link, lead, installer, step, language = loaded
        today = now().astimezone(ZoneInfo(installer.timezone)).date().isoformat()
        values = {} if step in (VISIT, states.RELEASE) else {"contact_date": today}
        return with_cookie(
            _form(lead, step, language, csrf, errors={}, values=values, today=today),
            csrf,
            settings,
        )


def _form(
    lead: Lead,
    step: str,
    language: str,
    csrf: str,
    *,
    errors: dict,
    values: dict,
    today: str,
    status_code: int = 200,
) -> HTMLResponse:
    if step == VISIT:
        fields, required = ["date", "time", "duration", "address", "note"], ("date", "time")
    else:
        required = states.REQUIRED_FIELDS.get(step, ())
        fields = list(required) + list(states.OPTIONAL_FIELDS.get(step, ()))
        if step != states.RELEASE:
            fields += ["contact_type", "contact_date"]
        if step in DESTRUCTIVE_STEPS:
            fields.append("confirm")
    return render_page(
        "links/status.html",
        language,
        status_code=status_code,
        lead_ref=lead.id,
        step=step,
        step_label=step_label(step, language),
        current=status_name(lead.status.value, language),
        fields=fields,
        required=(*states.REQUIRED_FIELDS.get(step, ()), "confirm"),
        errors=errors,
        values=values,
        csrf_token=csrf,
        destructive=step in DESTRUCTIVE_STEPS,
        contact_types=[(k, gettext(language, CONTACT_TYPE_LABELS[k])) for k in CONTACT_TYPES],
        today=today,
    )


@router.post("/l/status/{token}", include_in_schema=False)
async def act(token: str, request: Request, form: CsrfForm, settings: SettingsDep) -> HTMLResponse:
    fields = {k: str(v) for k, v in form.items() if k != CSRF_FIELD}
    return await run_in_threadpool(
        _act, token, fields, request, settings, str(form.get(CSRF_FIELD))
    )


def _act(token: str, fields: dict, request: Request, settings: Settings, csrf: str) -> HTMLResponse:
    with session_scope(settings) as session:
        loaded, page = _load(session, settings, token, request)
        if page is not None:
            return page
        _link, lead, installer, step, language = loaded
        lead = lock_lead(session, lead.id)
        today = now().astimezone(ZoneInfo(installer.timezone)).date().isoformat()
        try:
            confirm_destructive(step, fields)
            if step == VISIT:
                book_visit(session, lead, installer, fields, now=now(), settings=settings)
            else:
                record_status(
                    session,
                    lead,
                    installer,
                    step,
                    fields,
                    now=now(),
                    settings=settings,
                    via="email link",
                    language=language,
                )
        except StepInvalid as invalid:
            session.rollback()
            return _form(
                lead,
                step,
                language,
                csrf,
                errors=error_texts(invalid.errors, language),
                values=fields,
                today=today,
                status_code=422,
            )
        except (NotYours, states.Refused):
            session.rollback()
            return problem("not_yours", language)
        held = lead.assigned_installer_id == installer.id
        next_links = (
            status_links(session, lead, installer, now=now(), settings=settings) if held else []
        )
        return render_page(
            "links/status_saved.html",
            language,
            lead_ref=lead.id,
            step_label=step_label(step, language),
            next_links=next_links,
            dashboard_url=f"{settings.base_url.rstrip('/')}/dashboard/leads/{lead.id}",
        )
