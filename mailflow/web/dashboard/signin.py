"""Sign-in: ``/dashboard/signin`` emails a one-time sign-in link; the form, shown before there
is a session, uses the signed double-submit cookie of :mod:`mailflow.web.csrf`. Forms of a
session echo the session's own token (``_guard_post``)."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.schema import normalise_email
from mailflow.i18n import LANGUAGES
from mailflow.infra.enqueue import send_now
from mailflow.outbound.emails import N_
from mailflow.web.csrf import page_token, verify, with_cookie
from mailflow.web.dashboard.common import _t, redirect, safe_next
from mailflow.web.dashboard.labels import LANGUAGE_NAMES, MESSAGES, PREFIX
from mailflow.web.dashboard.rendering import _message, _page
from mailflow.web.dashboard.sessions import SignedIn, _clear_session_cookie, signed_in
from mailflow.web.deps import request_language
from mailflow.web.errors import problem

log = logging.getLogger(__name__)
router = APIRouter()


def _signin_page(
    request: Request,
    settings: Settings,
    *,
    status_code: int = 200,
    sent=False,
    email: str = "",
    error: str | None = None,
    next_url: str = "",
) -> HTMLResponse:
    csrf = page_token(request)
    language = request_language(request)
    response = _page(
        "signin.html",
        None,
        status_code=status_code,
        language=language,
        csrf_token=csrf,
        sent=sent,
        email=email,
        error=error,
        next_url=safe_next(next_url) if next_url else "",
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
    )
    return with_cookie(response, csrf, settings)


@router.get(f"{PREFIX}/signin", include_in_schema=False)
def signin_form(request: Request) -> Response:
    settings = get_settings()
    with session_scope(settings) as session:
        if signed_in(session, request, settings, now()) is not None:
            return redirect(safe_next(request.query_params.get("next", "")))
    # ``email`` only pre-fills the form (a link from a page or email that knows the address).
    return _signin_page(
        request,
        settings,
        next_url=request.query_params.get("next", ""),
        email=request.query_params.get("email", "").strip()[:320],
    )


@router.post(f"{PREFIX}/signin", include_in_schema=False)
async def signin_request(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_signin_request, request, form, get_settings())


def _signin_request(request: Request, form: dict, settings: Settings) -> Response:
    language = request_language(request)
    next_url = form.get("next", "")
    if not verify(request, form):
        return _signin_page(
            request,
            settings,
            status_code=403,
            next_url=next_url,
            email=form.get("email", "")[:320],
            error=_t(language, MESSAGES["csrf"][2]),
        )
    raw = form.get("email", "").strip()[:320]

    try:
        address = normalise_email(raw).lower()
    except ValueError:
        return _signin_page(
            request,
            settings,
            status_code=422,
            email=raw,
            next_url=next_url,
            error=_t(language, N_("Enter a valid email address.")),
        )

    # Known or not, the same work: one job (its timing must not tell who is an installer).
    try:
        send_now("send_signin_link", address, safe_next(next_url))
    except Exception:
        log.warning("could not enqueue a sign-in link", exc_info=True)

        return problem("unavailable", language)
    # The same answer whether or not the address is known.
    return _signin_page(request, settings, sent=True, email=raw, next_url=next_url)


@router.post(f"{PREFIX}/signout", include_in_schema=False)
async def signout(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_signout, request, form, get_settings())


def _signout(request: Request, form: dict, settings: Settings) -> Response:
    with session_scope(settings) as session:
        who = _guard_post(session, request, form, settings, now())
        if isinstance(who, Response):
            return who
        session.delete(who.row)
    response = redirect(f"{PREFIX}/signin")
    return _clear_session_cookie(response, settings)


def _guard_post(
    session: Session, request: Request, form: dict, settings: Settings, at: datetime
) -> SignedIn | Response:
    who = signed_in(session, request, settings, at)
    if who is None:
        return _message("signed_out", None, request_language(request))
    if not verify(request, form, who.row.csrf_token):
        return _message("csrf", who)
    return who
