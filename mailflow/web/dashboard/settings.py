"""Settings: vacation, language, weekly summary, the webhook to the installer's own tools."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.i18n import LANGUAGES, pick_language
from mailflow.installers.webhooks import (
    MAX_URL_LENGTH,
    WebhookInvalid,
    new_webhook_secret,
    remove_webhook,
    set_webhook,
)
from mailflow.routing.withdrawals import withdraw_open_offers_of
from mailflow.web.dashboard.common import _t, _tz, _when, redirect
from mailflow.web.dashboard.labels import LANGUAGE_NAMES, NOTICE_WEBHOOK_SECRET, PREFIX
from mailflow.web.dashboard.rendering import _notice, _page
from mailflow.web.dashboard.sessions import SignedIn, _to_signin, _touch, signed_in
from mailflow.web.dashboard.signin import _guard_post
from mailflow.web.dashboard.vacation import VacationInvalid, apply_vacation, pause_of, vacation_view

log = logging.getLogger(__name__)
router = APIRouter()


@router.get(f"{PREFIX}/settings", include_in_schema=False)
def settings_page(request: Request) -> Response:
    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        _touch(who.installer, at)
        language = pick_language(who.installer.language)
        return _settings_page(who, at, notice=_notice(request, language))


def _settings_page(
    who: SignedIn,
    at: datetime,
    *,
    status_code=200,
    notice=None,
    values: dict | None = None,
    errors: dict | None = None,
    new_secret: str | None = None,
) -> HTMLResponse:
    installer = who.installer
    language = pick_language(installer.language)
    vacation = vacation_view(installer, language, at)
    values = values or {}
    return _page(
        "settings.html",
        who,
        status_code=status_code,
        section="settings",
        vacation=vacation,
        vacation_from=values.get("vacation_from", vacation["first_iso"] if vacation else ""),
        vacation_until=values.get("vacation_until", vacation["last_iso"] if vacation else ""),
        errors=errors or {},
        timezone=installer.timezone,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        current_language=pick_language(installer.language),
        digest_opt_out=installer.digest_opt_out,
        exchange_mail_opt_out=installer.exchange_mail_opt_out,
        paused=pause_of(installer, get_settings()),
        notice=notice,
        webhook_url=values.get("webhook_url", installer.webhook_url or ""),
        webhook_set=bool(installer.webhook_url),
        webhook_secret_at=_when(installer.webhook_secret_at, language, _tz(installer)),
        webhook_max=MAX_URL_LENGTH,
        # Shown once, on the page that answers the change that made it (never stored in a
        # page, link or cookie afterwards).
        new_secret=new_secret,
    )


@router.post(f"{PREFIX}/settings", include_in_schema=False)
async def settings_save(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_settings_save, request, form, get_settings())


def _settings_save(request: Request, form: dict, settings: Settings) -> Response:
    at = now()
    action = form.get("action", "")
    with session_scope(settings) as session:
        who = _guard_post(session, request, form, settings, at)
        if isinstance(who, Response):
            return who
        installer = who.installer
        language = pick_language(installer.language)
        if action in ("vacation", "clear_vacation"):
            try:
                done = apply_vacation(installer, action, form, at=at, language=language)
            except VacationInvalid as invalid:
                return _settings_page(who, at, status_code=422, values=form, errors=invalid.errors)
            # Away from now on: open offers go to the next installers at once.
            withdraw_open_offers_of(session, installer, now=at, settings=settings)
        elif action == "preferences":
            chosen = form.get("language", "")
            if chosen in LANGUAGES:
                installer.language = chosen
            installer.digest_opt_out = form.get("digest_opt_out") in ("on", "1", "yes", "true")
            installer.exchange_mail_opt_out = form.get("exchange_mail_opt_out") in (
                "on",
                "1",
                "yes",
                "true",
            )
            done = "preferences"
        elif action in ("webhook", "webhook_secret", "webhook_remove"):
            page = _webhook_action(who, action, form, at=at, settings=settings)
            installer.last_action_at = at
            if page is not None:
                return page
            done = "webhook_removed" if action == "webhook_remove" else "webhook"
        else:
            return _settings_page(who, at, status_code=422)
        installer.last_action_at = at
    return redirect(f"{PREFIX}/settings?done={done}")


def _webhook_action(
    who: SignedIn, action: str, form: dict, *, at: datetime, settings: Settings
) -> Response | None:
    """Set, change or remove the webhook, or make a new secret. A page that shows a new secret
    (once) or an error is returned; None: redirect with a notice."""
    installer = who.installer
    language = pick_language(installer.language)
    if action == "webhook_remove":
        change = remove_webhook(installer)
    elif action == "webhook_secret":
        change = new_webhook_secret(installer, now=at)
    else:
        try:
            change = set_webhook(
                installer,
                form.get("webhook_url", "")[: MAX_URL_LENGTH * 4],
                now=at,
                allow_local=settings.webhook_allow_local,
            )
        except WebhookInvalid as invalid:
            return _settings_page(
                who,
                at,
                status_code=422,
                values={"webhook_url": form.get("webhook_url", "")[: MAX_URL_LENGTH * 4]},
                errors={"webhook_url": _t(language, invalid.message, **invalid.params)},
            )
    if change is not None:
        log.info("installer %s: webhook %s", installer.id, change.change)
    if change is not None and change.secret:
        return _settings_page(
            who,
            at,
            notice=_t(language, NOTICE_WEBHOOK_SECRET),
            new_secret=change.secret,
        )
    return None
