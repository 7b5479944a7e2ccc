"""Link pages ``/l/<action>/<token>``.

Opening a link never changes anything: mail scanners fetch every link in a message. ``GET``
shows what the action will do and a button; the button ``POST``s to the same URL with a CSRF
field that must match a cookie set by the ``GET`` (double submit), and only the ``POST`` acts.
Tampered, expired, used and unknown links get a clear page in the installer's language with a
4xx status and change nothing.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.i18n import gettext, pick_language
from mailflow.links import tokens
from mailflow.models import Installer, Lead, Offer
from mailflow.outbound.emails import N_, project_facts
from mailflow.routing import offers
from mailflow.web.pages import render_page
from mailflow.web.secrets import same_secret

log = logging.getLogger(__name__)
router = APIRouter()
CSRF_COOKIE = "mf_link_csrf"

PROBLEMS = {
    "invalid": (
        400,
        N_("This link is not valid"),
        N_("The link is incomplete or has been changed."),
        N_("Open the link from the email again, or sign in to your dashboard."),
    ),
    "expired": (
        410,
        N_("This link has expired"),
        N_("Links in our emails only work for a limited time."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "used": (
        409,
        N_("This link has already been used"),
        N_("Each of these links works only once."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "already_accepted": (
        409,
        N_("You have already accepted this lead"),
        N_("The lead is yours."),
        N_("Sign in to your dashboard to see the customer's contact details."),
    ),
    "already_declined": (
        409,
        N_("You have already declined this lead"),
        N_("It has gone to the next installer."),
        None,
    ),
    "taken": (
        409,
        N_("This lead is no longer available"),
        N_("Another installer has taken it, or it was withdrawn."),
        None,
    ),
    "offer_expired": (
        410,
        N_("Too late: the offer has expired"),
        N_("The deadline passed and the lead went to the next installer."),
        None,
    ),
    "revealed": (
        409,
        N_("Contact details already shown"),
        N_("For the customer's privacy they are shown only once by this link."),
        N_("Sign in to your dashboard to see them again."),
    ),
    "not_yours": (
        409,
        N_("This lead is no longer yours"),
        N_("It was given back, lapsed or reassigned, so this link no longer works."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "csrf": (
        403,
        N_("Please try again"),
        N_("The form was not sent from this page, or the page was open for too long."),
        N_("Open the link from the email again."),
    ),
    "too_large": (
        413,
        N_("Too much sent"),
        N_("What was sent is larger than this page accepts. Nothing was changed."),
        N_("Go back and send less, or a smaller file."),
    ),
    "too_slow": (
        408,
        N_("Sending took too long"),
        N_("The form did not arrive in time, so it was not read. Nothing was changed."),
        N_("Go back and send it again."),
    ),
    "unavailable": (
        503,
        N_("Temporarily unavailable"),
        N_("This service cannot answer right now. Nothing was changed."),
        N_("Please try again in a minute: the link stays valid."),
    ),
}
DECLINE_LABELS = {
    "no_capacity": N_("No capacity at the moment"),
    "out_of_area": N_("Outside my area"),
    "not_interested": N_("Not interested in this project"),
    "spam": N_("Looks like spam or a fake request"),
    "other": N_("Another reason"),
}


def problem(code: str, language: str | None) -> HTMLResponse:
    status, title, message, advice = PROBLEMS[code]
    lang = pick_language(language)
    return render_page(
        "links/problem.html",
        lang,
        status_code=status,
        title=gettext(lang, title),
        message=gettext(lang, message),
        advice=gettext(lang, advice) if advice else None,
    )


def _language_of(session: Session, installer_id: int | None, request: Request) -> str:
    installer = session.get(Installer, installer_id) if installer_id else None
    if installer is not None:
        return pick_language(installer.language)
    return pick_language(request.headers.get("accept-language", "").split(",")[0])


def _with_csrf(response: HTMLResponse, token: str) -> HTMLResponse:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/l/",
        max_age=3600,
        secure=get_settings().base_url.lower().startswith("https://"),
    )
    return response


def _csrf_ok(request: Request, form) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    field = str(form.get("csrf_token") or "")
    return bool(cookie) and same_secret(cookie, field)


def customer_of(lead: Lead) -> dict:
    return {
        "name": lead.customer_name,
        "street": lead.street,
        "postcode": lead.postcode,
        "city": lead.city,
        "email": lead.email,
        "phone": lead.phone,
        "reachability": lead.reachability,
        "message": lead.message,
    }


# ------------------------------------------------------------------------- GET --------------
@router.get("/l/{action}/{token}", include_in_schema=False)
async def show(action: str, token: str, request: Request) -> HTMLResponse:
    return await run_in_threadpool(_show, action, token, request, get_settings())


def _show(action: str, token: str, request: Request, settings: Settings) -> HTMLResponse:
    if action not in ("accept", "decline", "reveal"):
        return problem("invalid", request.headers.get("accept-language"))
    csrf = secrets.token_urlsafe(24)
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, action, token, now=now())
        except tokens.LinkError as exc:
            return problem(exc.code, _language_of(session, None, request))
        language = _language_of(session, link.installer_id, request)
        installer = session.get(Installer, link.installer_id)
        if action == "reveal":
            lead = session.get(Lead, link.lead_id)
            return _with_csrf(
                render_page("links/reveal.html", language, lead_ref=lead.id, csrf_token=csrf), csrf
            )
        offer = session.get(Offer, link.subject_id)
        closed = _closed_code(offer, now())
        if closed:
            return problem(closed, language)
        context = {
            "installer_name": installer.name,
            "deadline": offer.deadline,
            "timezone": installer.timezone,
            "project": project_facts(offer.lead, language),
            "csrf_token": csrf,
        }
        if action == "decline":
            context["reasons"] = [(k, gettext(language, v)) for k, v in DECLINE_LABELS.items()]
        return _with_csrf(render_page(f"links/{action}.html", language, **context), csrf)


def _closed_code(offer: Offer | None, at) -> str | None:
    from mailflow.models import LeadStatus, OfferStatus

    if offer is None:
        return "invalid"
    if offer.status == OfferStatus.ACCEPTED:
        return "already_accepted"
    if offer.status == OfferStatus.DECLINED:
        return "already_declined"
    if offer.status == OfferStatus.EXPIRED or (
        offer.status == OfferStatus.OFFERED and at >= offer.deadline
    ):
        return "offer_expired"
    if offer.status != OfferStatus.OFFERED or offer.lead.status != LeadStatus.OFFERED:
        return "taken"
    return None


# ------------------------------------------------------------------------- POST -------------
@router.post("/l/{action}/{token}", include_in_schema=False)
async def act(action: str, token: str, request: Request) -> HTMLResponse:
    form = await request.form()
    if not _csrf_ok(request, form):
        with session_scope() as session:
            return problem("csrf", _language_of(session, None, request))
    fields = {k: str(v) for k, v in form.items()}
    return await run_in_threadpool(_act, action, token, fields, request, get_settings())


def _act(action: str, token: str, form: dict, request: Request, settings: Settings) -> HTMLResponse:
    if action not in ("accept", "decline", "reveal"):
        return problem("invalid", None)
    at = now()
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, action, token, now=at)
        except tokens.LinkUsed:
            return _used(session, settings, action, token, request, at)
        except tokens.LinkError as exc:
            return problem(exc.code, _language_of(session, None, request))
        language = _language_of(session, link.installer_id, request)
    try:
        with session_scope(settings) as session:
            tokens.consume(session, link, now=at)
            if action == "accept":
                result = offers.accept(
                    session, link.subject_id, link.installer_id, now=at, settings=settings
                )
                page = render_page(
                    "links/accepted.html",
                    language,
                    customer=customer_of(result.lead),
                    project=project_facts(result.lead, language),
                )
            elif action == "decline":
                offers.decline(
                    session,
                    link.subject_id,
                    link.installer_id,
                    reason=form.get("reason", "other"),
                    note=form.get("note"),
                    now=at,
                    settings=settings,
                )
                page = render_page("links/declined.html", language)
            else:
                page = _reveal(session, link, language, at)
            return page
    except tokens.LinkUsed:
        with session_scope(settings) as session:
            return _used(session, settings, action, token, request, at)
    except offers.OfferClosed as closed:
        # The transaction rolled back (the link stays unused), except what expiring a passed
        # deadline wrote: run that again on its own so the lead moves on.
        if closed.code == "expired":
            _expire_now(link.subject_id, settings, at)
        code = {"expired": "offer_expired"}.get(closed.code, closed.code)
        return problem(code, language)
    except _Revealed:
        return problem("revealed", language)


class _Revealed(Exception):
    pass


def _reveal(session: Session, link: tokens.LinkData, language: str, at) -> HTMLResponse:
    lead = session.get(Lead, link.lead_id)
    if lead is None or lead.assigned_installer_id != link.installer_id:
        raise _Revealed()
    from mailflow.leads.service import add_event
    from mailflow.models import Actor

    add_event(
        session,
        lead,
        "contact_details_revealed",
        at=at,
        actor=Actor.INSTALLER,
        installer_id=link.installer_id,
    )
    return render_page(
        "links/revealed.html", language, lead_ref=lead.id, customer=customer_of(lead)
    )


def _used(
    session: Session, settings: Settings, action: str, token: str, request: Request, at
) -> HTMLResponse:
    """A one-time link opened again: say what already happened, as specifically as we can."""
    row = tokens.nonce_row(session, settings, action, token)
    language = _language_of(session, row.installer_id if row else None, request)
    if row is None:
        return problem("used", language)
    if action == "reveal":
        return problem("revealed", language)
    offer = session.get(Offer, row.subject_id)
    return problem(_closed_code(offer, at) or "used", language)


def _expire_now(offer_id: int, settings: Settings, at) -> None:
    with session_scope(settings) as session:
        offer = session.get(Offer, offer_id)
        if offer is not None:
            lead = offers.lock_lead(session, offer.lead_id)
            session.refresh(offer)
            offers.expire_offer(session, offer, lead, now=at, settings=settings)
