"""The leads in tabs (new, in progress, follow-up, finished) and reactivation."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain import lead as states
from mailflow.i18n import pick_language
from mailflow.links import tokens
from mailflow.models import (
    HELD_STATUSES,
    Lead,
    LeadStatus,
    LinkNonce,
    Offer,
    OfferStatus,
)
from mailflow.outbound.emails import N_
from mailflow.outbound.facts import project_facts
from mailflow.routing.exchange import available_leads, claim_limit
from mailflow.routing.standing import installer_standing
from mailflow.web.dashboard.common import _day, _iso_day, _t, _tz, _when, redirect, status_label
from mailflow.web.dashboard.labels import (
    CLAIM_LIMITS,
    DEACTIVATED_BY_ADMIN,
    LIST_LIMIT,
    PREFIX,
    TAB_LABELS,
    TABS,
)
from mailflow.web.dashboard.rendering import _notice, _page
from mailflow.web.dashboard.sessions import SignedIn, _to_signin, _touch, signed_in
from mailflow.web.dashboard.signin import _guard_post
from mailflow.web.dashboard.vacation import pause_of, vacation_view

log = logging.getLogger(__name__)
router = APIRouter()


@router.get(f"{PREFIX}/", include_in_schema=False)
def home(request: Request) -> Response:
    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        _touch(who.installer, at)
        tab = request.query_params.get("tab")
        return _home(session, who, settings, at, tab if tab in TABS else None, request)


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


def _follow_ups_due(session: Session, installer, today) -> int:
    """Leads in follow-up whose "remind me on" day has come."""
    due = 0
    for progress in session.scalars(
        select(Lead.progress).where(
            Lead.assigned_installer_id == installer.id, Lead.status == LeadStatus.FOLLOW_UP
        )
    ):
        day = _iso_day(((progress or {}).get("follow_up") or {}).get("date"))
        due += day is not None and day <= today
    return due


def opening_tab(counts: dict[str, int], offers_waiting: int, follow_ups_due: int) -> str:
    """The tab with work: offers waiting for an answer, else follow-ups due, else the first tab
    with something in it (New when everything is empty)."""
    if offers_waiting:
        return "new"
    if follow_ups_due:
        return "follow_up"
    return next((key for key in TABS if counts.get(key)), "new")


def _home(
    session: Session,
    who: SignedIn,
    settings: Settings,
    at: datetime,
    tab: str | None,
    request: Request,
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
    available = available_leads(session, installer, at)
    counts["available"] = len(available)
    if tab is None:
        due = _follow_ups_due(session, installer, at.astimezone(tz).date())
        tab = opening_tab(counts, len(offers), due)
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
    exchange_rows = (
        [_exchange_row(lead, language, tz) for lead in available] if tab == "available" else []
    )
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
        exchange=exchange_rows,
        claim_limit=(
            _t(language, CLAIM_LIMITS[limit])
            if tab == "available" and (limit := claim_limit(session, installer, at, settings))
            else None
        ),
        truncated=len(leads) >= LIST_LIMIT,
        timezone=installer.timezone,
        paused=pause_of(installer, get_settings()),
        vacation=vacation_view(installer, language, at),
        notice=_notice(request, language),
        standing=installer_standing(session, installer, at, settings),
        held=session.scalar(
            select(func.count()).where(
                Lead.assigned_installer_id == installer.id, Lead.status.in_(HELD_STATUSES)
            )
        ),
        capacity=installer.capacity,
    )


def _place(lead: Lead) -> str:
    return " ".join(p for p in (lead.postcode, lead.city) if p)


def _exchange_row(lead: Lead, language: str, tz: ZoneInfo) -> dict:
    """A lead of the exchange: where (postcode and city), what and the key figures, never who
    (no name, street, email or phone)."""
    project = project_facts(lead, language)
    return {
        "id": lead.id,
        "product": project["product_label"],
        "place": _place(lead),
        "facts": project["facts"][2:],  # product and place are shown above
        "since": _when(lead.exchange_since, language, tz),
    }


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
