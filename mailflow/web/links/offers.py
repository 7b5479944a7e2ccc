"""Link pages ``/l/<action>/<token>``.

Opening a link never changes anything: mail scanners fetch every link in a message. ``GET``
shows what the action will do and a button; the button ``POST``s to the same URL with a CSRF
field that must match the signed cookie set by the ``GET`` (double submit, see
:mod:`mailflow.web.csrf`), and only the ``POST`` acts.
Tampered, expired, used and unknown links get a clear page in the installer's language with a
4xx status and change nothing.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.offer import lost_race
from mailflow.i18n import format_duration, gettext
from mailflow.leads.service import add_event
from mailflow.links import tokens
from mailflow.models import Actor, Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.outbound.emails import N_
from mailflow.outbound.facts import project_facts
from mailflow.routing import offers, second_chance
from mailflow.web.csrf import CsrfForm, page_token, with_cookie
from mailflow.web.dashboard.common import map_url, signin_url
from mailflow.web.deps import SettingsDep, link_language, request_language, token_language
from mailflow.web.errors import problem
from mailflow.web.pages import render_page

log = logging.getLogger(__name__)
router = APIRouter()

DECLINE_LABELS = {
    "no_capacity": N_("No capacity at the moment"),
    "out_of_area": N_("Outside my area"),
    "not_interested": N_("Not interested in this project"),
    "spam": N_("Looks like spam or a fake request"),
    "other": N_("Another reason"),
}


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
        "map_url": map_url(lead),
    }


# ------------------------------------------------------------------------- GET --------------
@router.get("/l/{action}/{token}", include_in_schema=False)
async def show(action: str, token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    return await run_in_threadpool(_show, action, token, request, settings)


def _show(action: str, token: str, request: Request, settings: Settings) -> HTMLResponse:
    if action not in ("accept", "decline", "reveal"):
        return problem("invalid", request_language(request))
    csrf = page_token(request)
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, action, token, now=now())
        except tokens.LinkError as exc:
            return problem(exc.code, token_language(session, settings, action, token, request))
        language = link_language(session, link.installer_id, request)
        installer = session.get(Installer, link.installer_id)
        if action == "reveal":
            lead = session.get(Lead, link.lead_id)
            return with_cookie(
                render_page("links/reveal.html", language, lead_ref=lead.id, csrf_token=csrf),
                csrf,
                settings,
            )
        offer = session.get(Offer, link.subject_id)
        closed = _closed_code(offer, now())
        if closed == "offer_expired" and _second_chance_open(session, offer):
            return with_cookie(
                render_page(
                    "links/expired.html",
                    language,
                    status_code=410,
                    lead_ref=offer.lead_id,
                    requeue_url=f"/l/{action}/{token}/requeue",
                    requeued=offer.requeued_at is not None,
                    csrf_token=csrf,
                ),
                csrf,
                settings,
            )
        if closed:
            return problem(closed, language)
        context = {
            "installer_name": installer.name,
            "deadline": offer.deadline,
            "time_left": format_duration(offer.deadline - now(), language),
            "timezone": installer.timezone,
            "project": project_facts(offer.lead, language),
            "csrf_token": csrf,
        }
        if action == "decline":
            context["reasons"] = [(k, gettext(language, v)) for k, v in DECLINE_LABELS.items()]
        return with_cookie(render_page(f"links/{action}.html", language, **context), csrf, settings)


def _second_chance_open(session: Session, offer: Offer) -> bool:
    """An offer that timed out while nobody holds the lead: the page offers a second chance
    (or says it was asked for already). The deadline may have passed before the sweep ran."""
    lead = offer.lead
    if lead.status not in second_chance.WAITING:
        return False
    return offer.status in (OfferStatus.EXPIRED, OfferStatus.OFFERED)


def _closed_code(offer: Offer | None, at) -> str | None:

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
        return "taken_by_other" if lost_race(offer, offer.lead) else "taken"
    return None


# ------------------------------------------------------------------------- second chance ----
@router.post("/l/{action}/{token}/requeue", include_in_schema=False)
async def requeue(
    action: str, token: str, request: Request, form: CsrfForm, settings: SettingsDep
) -> HTMLResponse:
    return await run_in_threadpool(_requeue, action, token, request, settings)


def _requeue(action: str, token: str, request: Request, settings: Settings) -> HTMLResponse:
    """ "Put me back in line": the (unused) accept or decline link of the expired offer still
    says whose offer it was; the installer is offered the lead again after the current cycle."""
    if action not in ("accept", "decline"):
        return problem("invalid", request_language(request))
    at = now()
    with session_scope(settings) as session:
        try:
            link = tokens.verify(session, settings, action, token, now=at)
        except tokens.LinkError as exc:
            return problem(exc.code, token_language(session, settings, action, token, request))
        language = link_language(session, link.installer_id, request)
        offer = session.get(Offer, link.subject_id)
        if offer is not None and offer.status == OfferStatus.OFFERED and at >= offer.deadline:
            lead = offers.lock_lead(session, offer.lead_id)
            session.refresh(offer)
            offers.expire_offer(session, offer, lead, now=at, settings=settings)
    try:
        with session_scope(settings) as session:
            second_chance.put_back_in_line(
                session, link.subject_id, link.installer_id, now=at, settings=settings
            )
            return render_page("links/requeued.html", language)
    except offers.OfferClosed as closed:
        return problem(closed.code, language)


# ------------------------------------------------------------------------- POST -------------
@router.post("/l/{action}/{token}", include_in_schema=False)
async def act(
    action: str, token: str, request: Request, form: CsrfForm, settings: SettingsDep
) -> HTMLResponse:
    fields = {k: str(v) for k, v in form.items()}
    return await run_in_threadpool(_act, action, token, fields, request, settings)


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
            return problem(exc.code, token_language(session, settings, action, token, request))
        language = link_language(session, link.installer_id, request)
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
                    lead_ref=result.lead.id,
                    lead_url=f"/dashboard/leads/{result.lead.id}",
                    dashboard_url=signin_url(
                        session.get(Installer, link.installer_id).email, "/dashboard/"
                    ),
                )
            elif action == "decline":
                offer = offers.decline(
                    session,
                    link.subject_id,
                    link.installer_id,
                    reason=form.get("reason") or None,  # optional: nothing is chosen for them
                    note=form.get("note"),
                    now=at,
                    settings=settings,
                )
                page = render_page(
                    "links/declined.html", language, next_step=_after_decline(session, offer)
                )
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


def _after_decline(session: Session, declined: Offer) -> str:
    """What routing did with the lead in the decline's own transaction (the reaction to
    ``LeadNeedsInstaller`` ran in it): offered to another installer, listed in the exchange
    (pool), or waiting for an installer with room."""
    lead = session.get(Lead, declined.lead_id)
    if lead.status == LeadStatus.OFFERED:
        return "offered"
    if lead.status == LeadStatus.POOL:
        return "exchange" if lead.exchange_since is not None else "pool"
    return "waiting"


class _Revealed(Exception):
    pass


def _reveal(session: Session, link: tokens.LinkData, language: str, at) -> HTMLResponse:
    lead = session.get(Lead, link.lead_id)
    if lead is None or lead.assigned_installer_id != link.installer_id:
        raise _Revealed()
    if lead.first_contact_at is None:  # no status yet: revealing stands for first contact
        lead.first_contact_at = at
    add_event(
        session,
        lead,
        "contact_details_revealed",
        at=at,
        actor=Actor.INSTALLER,
        installer_id=link.installer_id,
    )
    installer = session.get(Installer, link.installer_id)
    return render_page(
        "links/revealed.html",
        language,
        lead_ref=lead.id,
        customer=customer_of(lead),
        signin_url=signin_url(installer.email, f"/dashboard/leads/{lead.id}"),
    )


def _used(
    session: Session, settings: Settings, action: str, token: str, request: Request, at
) -> HTMLResponse:
    """A one-time link opened again: say what already happened, as specifically as we can."""
    row = tokens.nonce_row(session, settings, action, token)
    language = link_language(session, row.installer_id if row else None, request)
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
