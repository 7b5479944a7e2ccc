"""Installer account link pages: ``/l/signin/<token>`` and ``/l/vacation/<token>``.

As on every link page (see :mod:`mailflow.web.links.offers`), opening the link changes nothing — mail
scanners fetch every link — and only the ``POST`` of the page's form acts, with the CSRF field
echoing the signed cookie set by the ``GET`` (:mod:`mailflow.web.csrf`).

- ``signin`` (one time, one hour): the button starts a dashboard session and goes to the
  dashboard (or to the page the installer asked for before signing in).
- ``vacation`` (lasting, in every installer email's footer): set or clear the vacation range;
  with the signed extra ``digest=off`` (the weekly summary's unsubscribe link) it stops the
  summary instead. Works as long as the installer exists and the token has not expired.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.i18n import gettext, pick_language
from mailflow.links import tokens
from mailflow.models import Installer
from mailflow.outbound.emails import N_
from mailflow.routing.withdrawals import withdraw_open_offers_of
from mailflow.web.csrf import CsrfForm, CsrfRefused, page_token, verify, with_cookie
from mailflow.web.dashboard.common import redirect, safe_next
from mailflow.web.dashboard.sessions import set_session_cookie, start_session
from mailflow.web.dashboard.vacation import (
    VacationInvalid,
    apply_vacation,
    pause_of,
    vacation_view,
)
from mailflow.web.deps import SettingsDep, link_language
from mailflow.web.errors import PROBLEMS, problem
from mailflow.web.pages import render_page

log = logging.getLogger(__name__)
router = APIRouter()


# ------------------------------------------------------------------ helpers ----------------
def _link_language(
    session: Session, settings: Settings, purpose: str, token: str, request: Request
) -> str:
    """The installer's language even for a used or expired link (the nonce row still says
    whose it was); the browser's otherwise."""
    row = tokens.nonce_row(session, settings, purpose, token)
    return link_language(session, row.installer_id if row else None, request)


def _signin_problem(code: str, language: str) -> HTMLResponse:
    """A sign-in link that cannot act: say why, and offer a new link."""
    if code not in ("invalid", "expired", "used"):
        return problem(code, language)
    status, title, message, _advice = PROBLEMS[code]
    return render_page(
        "dashboard/link_problem.html",
        language,
        status_code=status,
        title=gettext(language, title),
        message=gettext(language, message),
    )


def _installer_of(session: Session, link: tokens.LinkData) -> Installer | None:
    installer = session.get(Installer, link.installer_id) if link.installer_id else None
    if installer is None or (link.subject_id is not None and link.subject_id != installer.id):
        return None
    return installer


# ------------------------------------------------------------------ /l/signin ---------------
@router.get("/l/signin/{token}", include_in_schema=False)
def signin_link(token: str, request: Request, settings: SettingsDep) -> Response:
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, "signin", token, now=now())
        except tokens.LinkError as exc:
            return _signin_problem(
                exc.code, _link_language(session, settings, "signin", token, request)
            )
        installer = _installer_of(session, link)
        if installer is None:
            return _signin_problem("invalid", link_language(session, None, request))
        csrf = page_token(request)
        page = render_page(
            "dashboard/signin_link.html",
            pick_language(installer.language),
            installer_name=installer.name,
            csrf_token=csrf,
        )
        return with_cookie(page, csrf, settings)


@router.post("/l/signin/{token}", include_in_schema=False)
async def signin_act(
    token: str, request: Request, _form: CsrfForm, settings: SettingsDep
) -> Response:
    return await run_in_threadpool(_signin, token, request, settings)


def _signin(token: str, request: Request, settings: Settings) -> Response:
    at = now()
    try:
        with session_scope(settings) as session:
            link = tokens.verify(session, settings, "signin", token, now=at)
            tokens.consume(session, link, now=at)
            installer = _installer_of(session, link)
            if installer is None:
                raise tokens.LinkInvalid("this link is not valid")
            cookie = start_session(session, installer, request, at=at, settings=settings)
            target = safe_next(link.extra.get("next"))
            log.info("installer %s signed in", installer.id)
    except tokens.LinkError as exc:
        with session_scope(settings) as session:
            return _signin_problem(
                exc.code, _link_language(session, settings, "signin", token, request)
            )
    response = redirect(target)
    return set_session_cookie(response, cookie, settings)


# ------------------------------------------------------------------ /l/vacation -------------
def _vacation_page(
    installer: Installer,
    link: tokens.LinkData,
    csrf: str,
    *,
    status_code=200,
    values: dict | None = None,
    errors: dict | None = None,
) -> HTMLResponse:
    language = pick_language(installer.language)
    at = now()
    if link.extra.get("exchange") == "off":
        return render_page(
            "dashboard/exchange_link.html",
            language,
            status_code=status_code,
            installer_name=installer.name,
            csrf_token=csrf,
            already=installer.exchange_mail_opt_out,
        )
    if link.extra.get("digest") == "off":
        return render_page(
            "dashboard/digest_link.html",
            language,
            status_code=status_code,
            installer_name=installer.name,
            csrf_token=csrf,
            already=installer.digest_opt_out,
        )
    vacation = vacation_view(installer, language, at)
    values = values or {}
    return render_page(
        "dashboard/vacation_link.html",
        language,
        status_code=status_code,
        installer_name=installer.name,
        csrf_token=csrf,
        vacation=vacation,
        vacation_from=values.get("vacation_from", vacation["first_iso"] if vacation else ""),
        vacation_until=values.get("vacation_until", vacation["last_iso"] if vacation else ""),
        errors=errors or {},
        timezone=installer.timezone,
        paused=pause_of(installer, get_settings()),
    )


@router.get("/l/vacation/{token}", include_in_schema=False)
def vacation_link(token: str, request: Request, settings: SettingsDep) -> Response:
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, "vacation", token, now=now())
        except tokens.LinkError as exc:
            return problem(exc.code, _link_language(session, settings, "vacation", token, request))
        installer = _installer_of(session, link)
        if installer is None:
            return problem("invalid", link_language(session, None, request))
        csrf = page_token(request)
        return with_cookie(_vacation_page(installer, link, csrf), csrf, settings)


@router.post("/l/vacation/{token}", include_in_schema=False)
async def vacation_act(token: str, request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    # RFC 8058 one-click unsubscribe (a mail client's POST, no page, no cookie): the signed
    # token is the authorisation, and it only ever turns the weekly summary off.
    one_click = fields.get("List-Unsubscribe") == "One-Click"
    if not one_click and not verify(request, form):
        raise CsrfRefused()
    return await run_in_threadpool(_vacation, token, fields, one_click, request, settings)


def _vacation(
    token: str, form: dict, one_click: bool, request: Request, settings: Settings
) -> Response:
    at = now()
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, "vacation", token, now=at)
        except tokens.LinkError as exc:
            return problem(exc.code, _link_language(session, settings, "vacation", token, request))
        installer = _installer_of(session, link)
        if installer is None:
            return problem("invalid", link_language(session, None, request))
        language = pick_language(installer.language)
        digest_link = link.extra.get("digest") == "off"
        exchange_link = link.extra.get("exchange") == "off"
        action = "digest_off" if (digest_link or one_click) else form.get("action", "")
        if exchange_link:
            action = "exchange_off"  # the daily exchange email's own link turns only it off
        if one_click and not (digest_link or exchange_link):
            return problem("invalid", language)
        if action == "exchange_off":
            installer.exchange_mail_opt_out = True
            log.info("installer %s stopped the daily exchange email", installer.id)
            done = gettext(
                language, N_("You will no longer receive the daily email of available leads.")
            )
            vacation = None
        elif action == "digest_off":
            installer.digest_opt_out = True
            log.info("installer %s stopped the weekly summary", installer.id)
            done = gettext(language, N_("You will no longer receive the weekly summary."))
            vacation = None
        elif action in ("vacation", "clear_vacation"):
            try:
                apply_vacation(installer, action, form, at=at, language=language)
            except VacationInvalid as invalid:
                csrf = page_token(request)
                return with_cookie(
                    _vacation_page(
                        installer, link, csrf, status_code=422, values=form, errors=invalid.errors
                    ),
                    csrf,
                    settings,
                )
            # Away from now on: open offers go to the next installers at once.
            withdraw_open_offers_of(session, installer, now=at, settings=settings)
            vacation = vacation_view(installer, language, at)
            done = (
                gettext(language, N_("Your vacation is saved: no offers during that time."))
                if action == "vacation"
                else gettext(language, N_("Vacation cleared: you receive offers again."))
            )
        else:
            return problem("invalid", language)
        installer.last_action_at = at
        return render_page(
            "dashboard/link_done.html",
            language,
            installer_name=installer.name,
            done=done,
            vacation=vacation,
            paused=pause_of(installer, get_settings()),
        )
