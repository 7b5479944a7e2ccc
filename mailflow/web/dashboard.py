"""The installer dashboard ``/dashboard/`` (PRODUCT.md §5 and §7).

Installers have no password: ``/dashboard/signin`` emails a one-time sign-in link
(``/l/signin/<token>``, handled in :mod:`mailflow.web.vacation`), whose ``POST`` starts a
session. Sessions are rows of ``installer_sessions`` (server side: signing out or expiry ends
them for good); the cookie holds only the row's random id, signed with itsdangerous under every
configured key (newest signs, older ones still verify). Each session has its own CSRF token,
which every dashboard form echoes. The sign-in form itself, shown before there is a session,
uses a double-submit cookie limited to ``/dashboard``.

Pages: the leads in tabs (new, in progress, follow-up, finished), one lead with the customer's
contact details, progress, timeline and the status form, and the settings (vacation, language,
weekly summary). A lead page exists only for the installer who holds the lead: anyone else gets
the same 404 as for a lead that does not exist.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain import lead as states
from mailflow.i18n import LANGUAGES, gettext, pick_language
from mailflow.lifecycle.service import NotYours, StepInvalid, record_status, step_label
from mailflow.links import tokens
from mailflow.models import (
    Actor,
    Installer,
    InstallerSession,
    Lead,
    LeadEvent,
    LeadStatus,
    LinkNonce,
    Offer,
    OfferStatus,
)
from mailflow.outbound.emails import N_, project_facts
from mailflow.routing.offers import lock_lead
from mailflow.web.pages import PRIVATE_HEADERS, render_page
from mailflow.web.secrets import same_secret

log = logging.getLogger(__name__)
router = APIRouter()

PREFIX = "/dashboard"
SESSION_COOKIE = "mf_installer"
SESSION_SALT = "mailflow.installer-session"
SESSION_LIFETIME = timedelta(days=30)
SIGNIN_CSRF_COOKIE = "mf_dash_csrf"
# Using the dashboard counts as activity (8 weeks without any → deactivated, §7); recorded at
# most this often.
ACTIVITY_EVERY = timedelta(hours=1)
LIST_LIMIT = 200
MAX_VACATION = timedelta(days=366)

LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "pl": "Polski"}
CURRENCY_OF_COUNTRY = {
    "PL": "PLN",
    "GB": "GBP",
    "CH": "CHF",
    "CZ": "CZK",
    "SE": "SEK",
    "DK": "DKK",
    "NO": "NOK",
    "HU": "HUF",
}

TABS = ("new", "progress", "follow_up", "finished")
TAB_LABELS = {
    "new": N_("New"),
    "progress": N_("In progress"),
    "follow_up": N_("Follow-up"),
    "finished": N_("Finished"),
}
STATUS_LABELS = {
    LeadStatus.NEW: N_("New"),
    LeadStatus.OFFERED: N_("Offered"),
    LeadStatus.POOL: N_("Waiting for an installer"),
    LeadStatus.ACCEPTED: N_("Accepted, no progress recorded yet"),
    LeadStatus.CONTACT_ATTEMPTED: N_("Contact attempted"),
    LeadStatus.FIRST_CONTACT: N_("First contact made"),
    LeadStatus.QUOTE_SENT: N_("Quote sent"),
    LeadStatus.ORDER_PLACED: N_("Order placed"),
    LeadStatus.INSTALLATION_SCHEDULED: N_("Installation scheduled"),
    LeadStatus.INSTALLED: N_("Installed"),
    LeadStatus.FAILED: N_("Failed"),
    LeadStatus.FOLLOW_UP: N_("Follow-up"),
    LeadStatus.EXPIRED: N_("Expired"),
    LeadStatus.DUPLICATE: N_("Duplicate"),
    LeadStatus.QUARANTINED: N_("Quarantined"),
    LeadStatus.HELD: N_("Held for review"),
}
EVENT_LABELS = {
    "intake": N_("Request received"),
    "duplicate": N_("Marked as a duplicate"),
    "offered": N_("Offered to you"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "offer_expired": N_("Offer expired"),
    "contact_details_revealed": N_("Contact details shown"),
    "reminder": N_("Reminder sent"),
    "released": N_("Given back"),
    "expired": N_("Expired"),
    "email_bounced": N_("Email bounced"),
    "status": N_("Status recorded"),
}
ACTOR_LABELS = {
    Actor.INSTALLER: N_("You"),
    Actor.CUSTOMER: N_("Customer"),
    Actor.ADMIN: N_("Administrator"),
    Actor.SYSTEM: N_("mailflow"),
}
# The fields each step asks for in the status form (name, input type).
STEP_FIELDS: dict[str, list[tuple[str, str]]] = {
    LeadStatus.QUOTE_SENT: [
        ("amount", "amount"),
        ("currency", "currency"),
        ("approved", "checkbox"),
        ("products", "text"),
    ],
    LeadStatus.INSTALLATION_SCHEDULED: [("date", "date")],
    LeadStatus.INSTALLED: [("date", "date")],
    LeadStatus.FOLLOW_UP: [("date", "date"), ("note", "textarea")],
    LeadStatus.FAILED: [("reason", "textarea")],
    states.RELEASE: [("reason", "textarea")],
}
FIELD_LABELS = {
    (LeadStatus.QUOTE_SENT, "amount"): N_("Quote amount"),
    (LeadStatus.QUOTE_SENT, "currency"): N_("Currency"),
    (LeadStatus.QUOTE_SENT, "approved"): N_("The customer has accepted the quote"),
    (LeadStatus.QUOTE_SENT, "products"): N_("Products (modules, inverter, storage…)"),
    (LeadStatus.INSTALLATION_SCHEDULED, "date"): N_("Installation date"),
    (LeadStatus.INSTALLED, "date"): N_("Installation date (optional)"),
    (LeadStatus.FOLLOW_UP, "date"): N_("Remind me on"),
    (LeadStatus.FOLLOW_UP, "note"): N_("Note (optional)"),
    (LeadStatus.FAILED, "reason"): N_("Reason (optional)"),
    (states.RELEASE, "reason"): N_("Why are you giving it back? (optional)"),
}
STEP_ERRORS = {
    "choose": N_("Choose what happened."),
    "required": N_("Required."),
    "must be a positive number": N_("Enter a positive amount, e.g. 12500 or 12500.50."),
    "must be a 3-letter currency code": N_("Enter a 3-letter currency code, e.g. EUR."),
    "must be in the future": N_("Choose a day after today."),
    "must be a date (YYYY-MM-DD)": N_("Enter a date."),
}
NOTICES = {
    "saved": N_("Saved."),
    "released": N_("The lead has been given back and goes to another installer."),
    "reactivated": N_("Your account is active again: you will receive offers."),
    "vacation": N_("Your vacation is saved: no offers during that time."),
    "vacation_cleared": N_("Vacation cleared: you receive offers again."),
    "preferences": N_("Your preferences are saved."),
}
DEACTIVATED_BY_ADMIN = N_(
    "An administrator deactivated your account: you receive no offers, and only an "
    "administrator can reactivate it. Write to %(contact)s to ask why or to have it reactivated."
)
MESSAGES = {
    "signed_out": (
        403,
        N_("You are not signed in"),
        N_("Your session has ended. Sign in again to continue."),
    ),
    "csrf": (
        403,
        N_("Please try again"),
        N_("The form was not sent from this page, or the page was open for too long."),
    ),
    "not_found": (
        404,
        N_("Lead not found"),
        N_("There is no lead with this number among your leads."),
    ),
}


# ------------------------------------------------------------------ small helpers ----------
def _t(language: str, message: str, **params) -> str:
    return gettext(language, message, **params)


def _tz(installer: Installer) -> ZoneInfo:
    try:
        return ZoneInfo(installer.timezone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day(value: date, language: str) -> str:
    return format_date(value, "medium", locale=language)


def _when(value: datetime | None, language: str, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    local = value.astimezone(tz)
    return (
        f"{format_date(local.date(), 'medium', locale=language)}, "
        f"{format_time(local.time(), 'short', locale=language)}"
    )


def _iso_day(value) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _money(amount, currency: str | None, language: str) -> str:
    try:
        return format_currency(amount, currency or "EUR", locale=language)
    except Exception:  # an odd currency code must not break the page
        return f"{amount} {currency or ''}".strip()


def _secure(settings: Settings) -> bool:
    return settings.base_url.lower().startswith("https://")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PRIVATE_HEADERS)


def status_label(status: str, language: str) -> str:
    try:
        return _t(language, STATUS_LABELS[LeadStatus(status)])
    except ValueError:
        return str(status)


def _step_text(step: str, language: str) -> str:
    try:
        return step_label(step, language)
    except KeyError:
        return str(step)


_NEXT = re.compile(r"^/dashboard/[A-Za-z0-9_\-/]*(\?[A-Za-z0-9_\-=&]*)?$")


def safe_next(value) -> str:
    """Where to go after signing in: a dashboard path, never another site."""
    if isinstance(value, str) and _NEXT.match(value) and not value.startswith(f"{PREFIX}/signin"):
        return value
    return f"{PREFIX}/"


# ------------------------------------------------------------------ sessions ---------------
def _signer(settings: Settings) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with all of them.
    return URLSafeSerializer(list(reversed(settings.signing_keys)), salt=SESSION_SALT)


@dataclass
class SignedIn:
    row: InstallerSession
    installer: Installer


def _session_id(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        value = _signer(settings).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def signed_in(
    session: Session, request: Request, settings: Settings, at: datetime
) -> SignedIn | None:
    sid = _session_id(request, settings)
    row = session.get(InstallerSession, sid) if sid else None
    if row is None or row.expires_at <= at:
        return None
    installer = session.get(Installer, row.installer_id)
    return SignedIn(row, installer) if installer is not None else None


def start_session(
    session: Session, installer: Installer, request: Request, *, at: datetime, settings: Settings
) -> str:
    """A new session for ``installer`` (in the caller's transaction); returns the cookie value.
    The browser's previous session, if any, ends: a session id is never reused."""
    old = _session_id(request, settings)
    if old:
        session.execute(delete(InstallerSession).where(InstallerSession.id == old))
    session.execute(
        delete(InstallerSession).where(
            InstallerSession.installer_id == installer.id, InstallerSession.expires_at <= at
        )
    )
    row = InstallerSession(
        id=secrets.token_urlsafe(32),
        installer_id=installer.id,
        created_at=at,
        expires_at=at + SESSION_LIFETIME,
        csrf_token=secrets.token_urlsafe(32),
    )
    session.add(row)
    installer.last_action_at = at
    return _signer(settings).dumps(row.id)


def set_session_cookie(response: Response, value: str, settings: Settings) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
    )
    return response


def _clear_session_cookie(response: Response, settings: Settings) -> Response:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(settings)
    )
    return response


def _touch(installer: Installer, at: datetime) -> None:
    if installer.last_action_at is None or at - installer.last_action_at >= ACTIVITY_EVERY:
        installer.last_action_at = at


def _to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if safe_next(target) == f"{PREFIX}/":
        return redirect(f"{PREFIX}/signin")
    return redirect(f"{PREFIX}/signin?next={quote(target, safe='')}")


# ------------------------------------------------------------------ rendering --------------
def _page(
    template: str,
    who: SignedIn | None,
    *,
    status_code: int = 200,
    language=None,
    section: str = "",
    **context,
) -> HTMLResponse:
    installer = who.installer if who else None
    language = pick_language(language or (installer.language if installer else None))
    return render_page(
        f"dashboard/{template}",
        language,
        status_code=status_code,
        me=(
            {"name": installer.name, "company": installer.company or "", "email": installer.email}
            if installer
            else None
        ),
        session_csrf=who.row.csrf_token if who else "",
        section=section,
        **context,
    )


def _message(code: str, who: SignedIn | None, language: str | None = None) -> HTMLResponse:
    status, title, text = MESSAGES[code]
    lang = pick_language(language or (who.installer.language if who else None))
    return _page(
        "message.html",
        who,
        status_code=status,
        language=lang,
        title=_t(lang, title),
        text=_t(lang, text),
        signin=(code == "signed_out"),
    )


def _notice(request: Request, language: str) -> str | None:
    code = request.query_params.get("done")
    return _t(language, NOTICES[code]) if code in NOTICES else None


def _browser_language(request: Request) -> str:
    asked = request.query_params.get("lang")
    header = request.headers.get("accept-language", "").split(",")[0].split(";")[0]
    return pick_language(asked if asked in LANGUAGES else None, header)


# ------------------------------------------------------------------ vacation --------------
class VacationInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def vacation_range(
    form: dict, installer: Installer, *, at: datetime, language: str
) -> tuple[datetime, datetime]:
    """First and last day (the installer's local dates, both included) → the UTC instants
    stored: from 00:00 local on the first day to 00:00 local on the day after the last."""
    tz = _tz(installer)
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("vacation_from", "vacation_until"):
        raw = str(form.get(name) or "").strip()
        if not raw:
            errors[name] = _t(language, N_("Enter a date."))
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = _t(language, N_("Enter a date."))
    if not errors:
        first, last = days["vacation_from"], days["vacation_until"]
        today = at.astimezone(tz).date()
        if last < first:
            errors["vacation_until"] = _t(language, N_("The last day is before the first day."))
        elif last < today:
            errors["vacation_until"] = _t(language, N_("The last day is in the past."))
        elif last - first >= MAX_VACATION:
            errors["vacation_until"] = _t(language, N_("A vacation can last one year at most."))
    if errors:
        raise VacationInvalid(errors)
    start = datetime.combine(days["vacation_from"], time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(days["vacation_until"] + timedelta(days=1), time(0), tzinfo=tz)
    return start, end.astimezone(UTC)


def vacation_view(installer: Installer, language: str, at: datetime) -> dict | None:
    """The installer's vacation as local days, unless it is over."""
    if installer.vacation_until is None and installer.vacation_from is None:
        return None
    if installer.vacation_until is not None and installer.vacation_until <= at:
        return None
    tz = _tz(installer)
    first = installer.vacation_from.astimezone(tz).date() if installer.vacation_from else None
    last = (
        (installer.vacation_until.astimezone(tz) - timedelta(microseconds=1)).date()
        if installer.vacation_until
        else None
    )
    current = installer.vacation_from is None or installer.vacation_from <= at
    return {
        "first": _day(first, language) if first else "",
        "last": _day(last, language) if last else "",
        "first_iso": first.isoformat() if first else "",
        "last_iso": last.isoformat() if last else "",
        "current": current,
    }


def pause_of(installer: Installer, settings: Settings) -> dict | None:
    """Why the installer receives no offers, for the pages; None while the account is active.
    Only the pause for inactivity is theirs to end: an admin's deactivation needs an admin."""
    if installer.active:
        return None
    return {
        "by_admin": installer.deactivated_by_admin,
        "contact": settings.admin_email or settings.from_address,
    }


def apply_vacation(
    installer: Installer, action: str, form: dict, *, at: datetime, language: str
) -> str:
    """``vacation`` sets the range (raises VacationInvalid), ``clear_vacation`` ends it."""
    if action == "clear_vacation":
        installer.vacation_from = installer.vacation_until = None
        log.info("installer %s cleared their vacation", installer.id)
        return "vacation_cleared"
    start, end = vacation_range(form, installer, at=at, language=language)
    installer.vacation_from, installer.vacation_until = start, end
    log.info("installer %s on vacation %s → %s", installer.id, start.isoformat(), end.isoformat())
    return "vacation"


# ------------------------------------------------------------------ sign-in ---------------
def _signin_csrf(request: Request) -> str:
    current = request.cookies.get(SIGNIN_CSRF_COOKIE) or ""
    return current if re.fullmatch(r"[A-Za-z0-9_\-]{24,64}", current) else secrets.token_urlsafe(24)


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
    csrf = _signin_csrf(request)
    language = _browser_language(request)
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
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
    return response


@router.get(f"{PREFIX}/signin", include_in_schema=False)
def signin_form(request: Request) -> Response:
    settings = get_settings()
    with session_scope(settings) as session:
        if signed_in(session, request, settings, now()) is not None:
            return redirect(f"{PREFIX}/")
    return _signin_page(request, settings, next_url=request.query_params.get("next", ""))


@router.post(f"{PREFIX}/signin", include_in_schema=False)
async def signin_request(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_signin_request, request, form, get_settings())


def _signin_request(request: Request, form: dict, settings: Settings) -> Response:
    language = _browser_language(request)
    next_url = form.get("next", "")
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE) or ""
    if not cookie or not same_secret(cookie, form.get("csrf_token", "")):
        return _signin_page(
            request,
            settings,
            status_code=403,
            next_url=next_url,
            email=form.get("email", "")[:320],
            error=_t(language, MESSAGES["csrf"][2]),
        )
    raw = form.get("email", "").strip()[:320]
    from mailflow.leads.schema import normalise_email

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
    from mailflow.installers.signin import send_signin_link

    # Known or not, the same work: one job (its timing must not tell who is an installer).
    try:
        send_signin_link.send(address, safe_next(next_url))
    except Exception:
        log.warning("could not enqueue a sign-in link", exc_info=True)
        from mailflow.web.links import problem

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
        return _message("signed_out", None, _browser_language(request))
    if not same_secret(form.get("csrf_token", ""), who.row.csrf_token):
        return _message("csrf", who)
    return who


# ------------------------------------------------------------------ home (tabs) -----------
@router.get(f"{PREFIX}/", include_in_schema=False)
def home(request: Request) -> Response:
    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        _touch(who.installer, at)
        tab = request.query_params.get("tab")
        tab = tab if tab in TABS else "new"
        return _home(session, who, settings, at, tab, request)


def _tab_of(status: LeadStatus) -> str | None:
    if status == LeadStatus.ACCEPTED:
        return "new"
    if status in states.IN_PROGRESS:
        return "progress"
    if status == LeadStatus.FOLLOW_UP:
        return "follow_up"
    if status in states.FINISHED:
        return "finished"
    return None


def _home(
    session: Session, who: SignedIn, settings: Settings, at: datetime, tab: str, request: Request
) -> HTMLResponse:
    installer = who.installer
    language, tz = pick_language(installer.language), _tz(installer)
    counts = dict.fromkeys(TABS, 0)
    for status, count in session.execute(
        select(Lead.status, func.count())
        .where(Lead.assigned_installer_id == installer.id)
        .group_by(Lead.status)
    ):
        if _tab_of(status):
            counts[_tab_of(status)] += count
    offers = list(
        session.scalars(
            select(Offer)
            .where(Offer.installer_id == installer.id, Offer.status == OfferStatus.OFFERED)
            .order_by(Offer.deadline)
        )
    )
    counts["new"] += len(offers)
    statuses = [s for s in LeadStatus if _tab_of(s) == tab]
    order = {"new": Lead.accepted_at.desc(), "follow_up": Lead.status_changed_at.desc()}
    leads = list(
        session.scalars(
            select(Lead)
            .where(Lead.assigned_installer_id == installer.id, Lead.status.in_(statuses))
            .order_by(order.get(tab, Lead.status_changed_at.desc()), Lead.id.desc())
            .limit(LIST_LIMIT)
        )
    )
    rows = [_row(lead, tab, language, tz) for lead in leads]
    if tab == "follow_up":
        rows.sort(key=lambda r: r["sort"])
    offer_rows = (
        [_offer_row(session, settings, offer, language, tz, at) for offer in offers]
        if tab == "new"
        else []
    )
    return _page(
        "home.html",
        who,
        section="leads",
        tab=tab,
        tabs=[(key, _t(language, TAB_LABELS[key]), counts[key]) for key in TABS],
        rows=rows,
        offers=offer_rows,
        truncated=len(leads) >= LIST_LIMIT,
        timezone=installer.timezone,
        paused=pause_of(installer, get_settings()),
        vacation=vacation_view(installer, language, at),
        notice=_notice(request, language),
    )


def _place(lead: Lead) -> str:
    return " ".join(p for p in (lead.postcode, lead.city) if p)


def _row(lead: Lead, tab: str, language: str, tz: ZoneInfo) -> dict:
    progress = lead.progress or {}
    when, note, sort = "", "", ""
    if tab == "new":
        when = _t(language, N_("Accepted %(when)s"), when=_when(lead.accepted_at, language, tz))
    elif tab == "follow_up":
        follow = progress.get("follow_up") or {}
        day = _iso_day(follow.get("date"))
        when = _t(language, N_("Remind me on %(day)s"), day=_day(day, language)) if day else ""
        note, sort = follow.get("note") or "", follow.get("date") or ""
    else:
        when = _when(lead.status_changed_at or lead.updated_at, language, tz)
    return {
        "id": lead.id,
        "url": f"{PREFIX}/leads/{lead.id}",
        "name": lead.customer_name,
        "place": _place(lead),
        "product": project_facts(lead, language)["product_label"],
        "status": lead.status.value,
        "status_label": status_label(lead.status, language),
        "when": when,
        "note": note,
        "sort": sort,
    }


def answer_links(
    session: Session, settings: Settings, offer: Offer, at: datetime
) -> dict[str, str]:
    """The offer email's own accept/decline links, so the dashboard leads to the same one-time
    pages: the nonce rows written when the offer was emailed are signed again (a token carries
    only the nonce), so answering here or from the email is one and the same answer."""
    rows = session.scalars(
        select(LinkNonce)
        .where(
            LinkNonce.subject_id == offer.id,
            LinkNonce.installer_id == offer.installer_id,
            LinkNonce.purpose.in_(("accept", "decline")),
            LinkNonce.used_at.is_(None),
            LinkNonce.expires_at > at,
        )
        .order_by(LinkNonce.created_at.desc())
    )
    found: dict[str, str] = {}
    for row in rows:
        if row.purpose not in found:
            token = tokens.serializer(settings, row.purpose).dumps({"n": row.nonce})
            found[row.purpose] = f"/l/{row.purpose}/{token}"
    return found


def _offer_row(
    session: Session, settings: Settings, offer: Offer, language: str, tz: ZoneInfo, at: datetime
) -> dict:
    lead = offer.lead
    passed = at >= offer.deadline
    return {
        "id": lead.id,
        "product": project_facts(lead, language)["product_label"],
        "place": _place(lead),
        "deadline": _when(offer.deadline, language, tz),
        "passed": passed,
        "links": {} if passed else answer_links(session, settings, offer, at),
    }


@router.post(f"{PREFIX}/reactivate", include_in_schema=False)
async def reactivate(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_reactivate, request, form, get_settings())


def _reactivate(request: Request, form: dict, settings: Settings) -> Response:
    at = now()
    with session_scope(settings) as session:
        who = _guard_post(session, request, form, settings, at)
        if isinstance(who, Response):
            return who
        installer = who.installer
        if installer.deactivated_by_admin:
            log.warning("installer %s tried to undo an admin's deactivation", installer.id)
            language = pick_language(installer.language)
            return _page(
                "message.html",
                who,
                status_code=403,
                title=_t(language, N_("Deactivated by an administrator")),
                text=_t(
                    language, DEACTIVATED_BY_ADMIN, contact=pause_of(installer, settings)["contact"]
                ),
                signin=False,
            )
        if not installer.active:
            log.info(
                "installer %s reactivated their account (paused since %s)",
                installer.id,
                installer.deactivated_at.isoformat() if installer.deactivated_at else "?",
            )
        installer.active, installer.deactivated_at, installer.last_action_at = True, None, at
    return redirect(f"{PREFIX}/?done=reactivated")


# ------------------------------------------------------------------ one lead --------------
def _lead_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _owned_lead(session: Session, who: SignedIn, lead_id: int | None, *, lock=False) -> Lead | None:
    if lead_id is None:
        return None
    lead = lock_lead(session, lead_id) if lock else session.get(Lead, lead_id)
    if lead is None or lead.assigned_installer_id != who.installer.id:
        return None
    return lead


@router.get(f"{PREFIX}/leads/{{lead_id}}", include_in_schema=False)
def lead_page(lead_id: str, request: Request) -> Response:
    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        _touch(who.installer, at)
        lead = _owned_lead(session, who, _lead_id(lead_id))
        if lead is None:
            return _message("not_found", who)
        language = pick_language(who.installer.language)
        return _lead_page(session, who, lead, at, notice=_notice(request, language))


def _lead_page(
    session: Session,
    who: SignedIn,
    lead: Lead,
    at: datetime,
    *,
    status_code=200,
    notice: str | None = None,
    problem: str | None = None,
    chosen: str = "",
    values: dict | None = None,
    errors: dict | None = None,
) -> HTMLResponse:
    installer = who.installer
    language, tz = pick_language(installer.language), _tz(installer)
    facts = project_facts(lead, language)
    from mailflow.lifecycle.visits import BOOKABLE, current_visit

    visit = current_visit(session, lead.id)
    return _page(
        "lead.html",
        who,
        status_code=status_code,
        section="leads",
        visit=(
            {
                "when": _when(visit.starts_at, language, tz),
                "address": visit.address,
                "note": visit.note,
            }
            if visit
            else None
        ),
        can_book=lead.status in BOOKABLE,
        lead={
            "id": lead.id,
            "status": lead.status.value,
            "status_label": status_label(lead.status, language),
            "product": facts["product_label"],
            "place": _place(lead),
            "received": _when(lead.created_at, language, tz),
            "accepted": _when(lead.accepted_at, language, tz),
        },
        customer={
            "name": lead.customer_name,
            "street": lead.street,
            "postcode": lead.postcode,
            "city": lead.city,
            "country": lead.country,
            "email": lead.email,
            "phone": lead.phone,
            "reachability": lead.reachability,
            "message": lead.message,
        },
        facts=facts["facts"] + _other_details(lead, facts["facts"]),
        progress=_progress(lead, language),
        timeline=_timeline(lead, installer, language, tz),
        timezone=installer.timezone,
        steps=_steps(lead, installer, language, values or {}, errors or {}),
        chosen=chosen,
        step_error=(errors or {}).get("status"),
        notice=notice,
        problem=problem,
    )


_SHOWN_DETAILS = {
    "annual_consumption_kwh",
    "household_size",
    "roof_area_m2",
    "roof_pitch_deg",
    "roof_orientation_deg",
    "module_count",
    "savings_yearly",
    "module",
    "storage_interest",
}


def _other_details(lead: Lead, facts: list) -> list[tuple[str, str]]:
    """Details the offer summary leaves out, shown as they came (escaped by the template)."""
    extra: list[tuple[str, str]] = []
    for key, value in sorted((lead.details or {}).items()):
        if key in _SHOWN_DETAILS or value in (None, "", [], {}):
            continue
        if isinstance(value, dict | list):
            value = (
                ", ".join(f"{k}: {v}" for k, v in value.items())
                if isinstance(value, dict)
                else ", ".join(str(v) for v in value)
            )
        extra.append((key.replace("_", " ").capitalize(), str(value)[:500]))
    for label, value in (("grid_connection", lead.grid_connection),):
        if value:
            extra.append((label.replace("_", " ").capitalize(), value))
    return extra


def _progress(lead: Lead, language: str) -> list[tuple[str, str]]:
    progress = lead.progress or {}
    t = lambda message, **kw: _t(language, message, **kw)  # noqa: E731
    rows: list[tuple[str, str]] = []
    quote_ = progress.get("quote") or {}
    if quote_:
        rows.append(
            (t(N_("Quote amount")), _money(quote_.get("amount"), quote_.get("currency"), language))
        )
        rows.append(
            (
                t(N_("Quote accepted by the customer")),
                t(N_("yes")) if quote_.get("approved") else t(N_("no")),
            )
        )
        if quote_.get("products"):
            rows.append((t(N_("Products")), str(quote_["products"])))
    day = _iso_day(progress.get("installation_date"))
    if day:
        rows.append((t(N_("Installation date")), _day(day, language)))
    follow = progress.get("follow_up") or {}
    if follow:
        day = _iso_day(follow.get("date"))
        if day:
            rows.append((t(N_("Follow-up on")), _day(day, language)))
        if follow.get("note"):
            rows.append((t(N_("Follow-up note")), str(follow["note"])))
    if progress.get("failed_reason"):
        rows.append((t(N_("Reason it failed")), str(progress["failed_reason"])))
    return rows


def _refers_to(event: LeadEvent, installer: Installer) -> bool | None:
    """Whether the event names this installer (True), another one (False) or nobody (None)."""
    data = event.data or {}
    if "installer" in data:
        return data["installer"] == installer.email
    if "installer_id" in data:
        return data["installer_id"] == installer.id
    return None


def _timeline(lead: Lead, installer: Installer, language: str, tz: ZoneInfo) -> list[dict]:
    """The lead's events from this installer's offer on (plus when the request came in);
    events about other installers (their offers, declines, notes) are not theirs to see."""
    events = list(lead.events)
    start = 0
    for kinds in (("offered",), ("accepted", "assigned", "reassigned")):
        mine = [i for i, e in enumerate(events) if e.type in kinds and _refers_to(e, installer)]
        if mine:
            start = mine[-1]
            break
    if start:
        shown = [e for e in events[:start] if e.type == "intake"] + events[start:]
    else:
        shown = events
    items = []
    for event in shown:
        if _refers_to(event, installer) is False:
            continue
        items.append(
            {
                "at": _when(event.at, language, tz),
                "label": _event_label(event, language),
                "actor": _t(language, ACTOR_LABELS.get(event.actor, N_("mailflow"))),
                "details": _event_details(event, language, tz),
            }
        )
    return list(reversed(items))  # newest first


def _event_label(event: LeadEvent, language: str) -> str:
    data = event.data or {}
    if event.type == "status" and data.get("status"):
        return _step_text(data["status"], language)
    label = EVENT_LABELS.get(event.type)
    return _t(language, label) if label else event.type.replace("_", " ").capitalize()


def _event_details(event: LeadEvent, language: str, tz: ZoneInfo) -> list[str]:
    data = event.data or {}
    t = lambda message, **kw: _t(language, message, **kw)  # noqa: E731

    def pair(label: str, value: str) -> str:
        return t(N_("%(label)s: %(value)s"), label=t(label), value=value)

    out: list[str] = []
    if event.type == "status":
        if data.get("amount") is not None:
            out.append(
                pair(N_("Quote amount"), _money(data["amount"], data.get("currency"), language))
            )
            out.append(
                pair(
                    N_("Quote accepted by the customer"),
                    t(N_("yes")) if data.get("approved") else t(N_("no")),
                )
            )
        if data.get("products"):
            out.append(pair(N_("Products"), str(data["products"])))
        day = _iso_day(data.get("date"))
        if day:
            out.append(pair(N_("Date"), _day(day, language)))
        for key, label in (("note", N_("Note")), ("reason", N_("Reason"))):
            if data.get(key):
                out.append(pair(label, str(data[key])))
        if data.get("via") == "dashboard":
            out.append(t(N_("recorded in the dashboard")))
        elif data.get("via") == "link":
            out.append(t(N_("recorded by email link")))
    elif event.type == "offered" and data.get("deadline"):
        try:
            deadline = datetime.fromisoformat(data["deadline"])
            out.append(t(N_("Answer by %(when)s"), when=_when(deadline, language, tz)))
        except ValueError:
            pass
    elif event.type in ("released", "declined") and data.get("reason"):
        out.append(pair(N_("Reason"), str(data["reason"])))
    return out


def _steps(
    lead: Lead, installer: Installer, language: str, values: dict, errors: dict
) -> list[dict]:
    current = lead.status if lead.status in states.INSTALLER_TRANSITIONS else None
    if current is None or lead.assigned_installer_id != installer.id:
        return []
    currency = CURRENCY_OF_COUNTRY.get((installer.country or "").upper(), "EUR")
    steps = []
    for step in states.next_steps(current):
        fields = []
        for name, kind in STEP_FIELDS.get(step, []):
            key = f"{step}-{name}"
            default = currency if name == "currency" else ""
            fields.append(
                {
                    "name": key,
                    "id": f"f-{key}",
                    "kind": kind,
                    "label": _t(language, FIELD_LABELS[(step, name)]),
                    "value": values.get(key, default),
                    "required": name in states.REQUIRED_FIELDS.get(step, ()),
                    "error": errors.get(name) if values.get("status") == step else None,
                }
            )
        steps.append({"value": str(step), "label": _step_text(step, language), "fields": fields})
    return steps


@router.post(f"{PREFIX}/leads/{{lead_id}}/status", include_in_schema=False)
async def lead_status(lead_id: str, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_lead_status, lead_id, request, form, get_settings())


def _step_form(step: str, form: dict) -> dict:
    """The chosen step's fields: ``<step>-<field>`` from the page's form (plain ``<field>``
    names are accepted too)."""
    names = (*states.REQUIRED_FIELDS.get(step, ()), *states.OPTIONAL_FIELDS.get(step, ()))
    fields = {}
    for name in names:
        value = form.get(f"{step}-{name}", form.get(name))
        if value is not None:
            fields[name] = value
    return fields


class _Rollback(Exception):
    """Leaves the transaction without writing anything."""


def _lead_status(lead_id: str, request: Request, form: dict, settings: Settings) -> Response:
    at = now()
    step = form.get("status", "").strip()
    language = "en"
    problem: tuple[int, str] | None = None
    errors: dict[str, str] = {}
    try:
        with session_scope(settings) as session:
            who = _guard_post(session, request, form, settings, at)
            if isinstance(who, Response):
                return who
            language = pick_language(who.installer.language)
            lead = _owned_lead(session, who, _lead_id(lead_id), lock=True)
            if lead is None:
                return _message("not_found", who)
            try:
                if not step:
                    raise StepInvalid({"status": "choose"})
                record_status(
                    session,
                    lead,
                    who.installer,
                    step,
                    _step_form(step, form),
                    now=at,
                    settings=settings,
                    via="dashboard",
                )
            except StepInvalid as invalid:
                errors = {
                    name: _t(language, STEP_ERRORS[msg]) if msg in STEP_ERRORS else msg
                    for name, msg in invalid.errors.items()
                }
                raise _Rollback() from None
            except states.Refused as refused:
                problem = (
                    409,
                    _t(
                        language,
                        N_("“%(step)s” is not possible now: the lead's status is “%(status)s”."),
                        step=_step_text(refused.wanted, language),
                        status=status_label(refused.current, language),
                    ),
                )
                raise _Rollback() from None
            except NotYours:
                problem = (409, _t(language, N_("This lead can no longer be changed.")))
                raise _Rollback() from None
    except _Rollback:  # nothing was recorded
        pass
    if not errors and not problem:
        if step == states.RELEASE:
            return redirect(f"{PREFIX}/?done=released")
        return redirect(f"{PREFIX}/leads/{lead.id}?done=saved")
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        lead = _owned_lead(session, who, _lead_id(lead_id)) if who else None
        if lead is None:
            return _message("not_found", who)
        if problem:
            return _lead_page(session, who, lead, at, status_code=problem[0], problem=problem[1])
        values = {k: v for k, v in form.items() if k != "csrf_token"}
        return _lead_page(
            session,
            who,
            lead,
            at,
            status_code=422,
            chosen=step,
            values=values,
            errors=errors,
            problem=_t(language, N_("Please check the highlighted fields.")),
        )


# ------------------------------------------------------------------ settings --------------
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
        paused=pause_of(installer, get_settings()),
        notice=notice,
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
        elif action == "preferences":
            chosen = form.get("language", "")
            if chosen in LANGUAGES:
                installer.language = chosen
            installer.digest_opt_out = form.get("digest_opt_out") in ("on", "1", "yes", "true")
            done = "preferences"
        else:
            return _settings_page(who, at, status_code=422)
        installer.last_action_at = at
    return redirect(f"{PREFIX}/settings?done={done}")


# ------------------------------------------------------------------ score and ratings ------
@router.get(f"{PREFIX}/score", include_in_schema=False)
def score_page(request: Request) -> Response:
    """The installer's score, tier, ratings and what counts (PRODUCT.md §6)."""
    from mailflow.models import Survey
    from mailflow.outbound.emails import ADVICE, N_
    from mailflow.ratings.score import compute
    from mailflow.ratings.service import history_for, weights_of

    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        installer = who.installer
        language = pick_language(installer.language)
        weights, thresholds = weights_of(settings)
        result = compute(history_for(session, installer.id, now=at), weights, thresholds)
        ratings = list(
            session.scalars(
                select(Survey)
                .where(Survey.installer_id == installer.id, Survey.submitted_at.is_not(None))
                .order_by(Survey.submitted_at.desc())
                .limit(50)
            )
        )
        parts = [
            (_t(language, label), round(100 * result.parts[key]), getattr(weights, key))
            for key, label in (
                ("rating", N_("Customer ratings")),
                ("acceptance", N_("Offers accepted")),
                ("responsiveness", N_("Time to answer")),
                ("diligence", N_("Progress recorded")),
            )
        ]
        return _page(
            "score.html",
            who,
            language=language,
            section="score",
            tier=installer.tier,
            pinned=installer.tier_pinned,
            score=result.score,
            stored_score=installer.score,
            parts=parts,
            thresholds={"silver": thresholds.silver, "gold": thresholds.gold},
            advice=[_t(language, ADVICE[a]) for a in result.advice if a in ADVICE],
            rating=installer.rating,
            ratings=[
                {
                    "when": _when(r.submitted_at, language, _tz(installer)),
                    "lead": r.lead_id,
                    "service": r.service,
                    "installation": r.installation,
                    "communication": r.communication,
                    "comment": r.comment,
                }
                for r in ratings
            ],
        )


# ------------------------------------------------------------------ site visits ------------
@router.post(f"{PREFIX}/leads/{{lead_id}}/visit", include_in_schema=False)
async def lead_visit(lead_id: str, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_lead_visit, lead_id, request, form, get_settings())


def _lead_visit(lead_id: str, request: Request, form: dict, settings: Settings) -> Response:
    """Book, move (same form again) or cancel the site visit; the customer gets the invitation."""
    from mailflow.lifecycle.visits import book_visit, cancel_visit

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
                problem="; ".join(f"{k}: {v}" for k, v in errors.items()),
            )
        return redirect(f"{PREFIX}/leads/{lead.id}?done=saved#visit")
