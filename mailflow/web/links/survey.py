"""The customer's survey page ``/l/survey/<token>``: GET shows the form, POST saves once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from mailflow.app.emails import customer_language
from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import is_database_unavailable, session_scope
from mailflow.domain.errors import StepInvalid
from mailflow.links import tokens
from mailflow.models import Installer, Lead, Survey
from mailflow.ratings.service import AlreadyAnswered, submit_survey
from mailflow.web.csrf import FIELD as CSRF_FIELD
from mailflow.web.csrf import CsrfForm, page_token, with_cookie
from mailflow.web.deps import SettingsDep, token_language
from mailflow.web.errors import problem
from mailflow.web.pages import render_page
from mailflow.web.validation import error_texts

router = APIRouter()
CRITERIA = ("service", "installation", "communication")


def _context(session, link: tokens.LinkData) -> tuple[str, dict]:
    lead = session.get(Lead, link.lead_id)
    installer = session.get(Installer, link.installer_id)
    return customer_language(lead), {
        "company": installer.company or installer.name,
        "customer_name": lead.customer_name,
    }


@router.get("/l/survey/{token}", include_in_schema=False)
async def show(token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    return await run_in_threadpool(_show, token, request, settings)


def _show(token: str, request: Request, settings: Settings) -> HTMLResponse:
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, "survey", token, now=now())
        except tokens.LinkUsed:
            return _thanks(session, settings, token, already=True)
        except tokens.LinkError as exc:
            return problem(exc.code, token_language(session, settings, "survey", token, request))
        language, context = _context(session, link)
        survey = session.get(Survey, link.subject_id)
        if survey is None or survey.submitted_at is not None:
            return render_page("links/survey_thanks.html", language, already=True, **context)
        csrf = page_token(request)
        return with_cookie(
            render_page(
                "links/survey.html",
                language,
                csrf_token=csrf,
                criteria=CRITERIA,
                errors={},
                values={},
                **context,
            ),
            csrf,
            settings,
        )


@router.post("/l/survey/{token}", include_in_schema=False)
async def submit(
    token: str, request: Request, form: CsrfForm, settings: SettingsDep
) -> HTMLResponse:
    fields = {k: str(v) for k, v in form.items()}
    return await run_in_threadpool(_submit, token, fields, request, settings)


def _submit(token: str, form: dict, request: Request, settings: Settings) -> HTMLResponse:
    at = now()
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, "survey", token, now=at)
        except tokens.LinkUsed:
            return _thanks(session, settings, token, already=True)
        except tokens.LinkError as exc:
            return problem(exc.code, token_language(session, settings, "survey", token, request))
        language, context = _context(session, link)
    try:
        with session_scope(settings) as session:
            tokens.consume(session, link, now=at)
            submit_survey(session, link.subject_id, form, now=at, settings=settings)
    except StepInvalid as invalid:
        csrf = form.get(CSRF_FIELD, "")
        return render_page(
            "links/survey.html",
            language,
            status_code=422,
            csrf_token=csrf,
            criteria=CRITERIA,
            errors=error_texts(invalid.errors, language),
            values=form,
            **context,
        )
    except (tokens.LinkUsed, AlreadyAnswered):
        return render_page("links/survey_thanks.html", language, already=True, **context)
    return render_page("links/survey_thanks.html", language, already=False, **context)


def _thanks(session, settings: Settings, token: str, *, already: bool) -> HTMLResponse:
    row = tokens.nonce_row(session, settings, "survey", token)
    if row is None:
        return problem("used", None)
    try:
        language, context = _context(
            session,
            tokens.LinkData("survey", row.nonce, row.subject_id, row.installer_id, row.lead_id),
        )
    except Exception as exc:
        if is_database_unavailable(exc):
            raise
        return problem("used", None)
    return render_page("links/survey_thanks.html", language, already=already, **context)
