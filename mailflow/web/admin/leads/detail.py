"""One lead: its facts, offers, timeline, notes and documents, and the actions an admin may take."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain import lead as lead_rules
from mailflow.leads import admin_actions
from mailflow.models import (
    HELD_STATUSES,
    InboundMessage,
    Installer,
    Lead,
    LeadDocument,
    LeadNote,
    LeadStatus,
    Offer,
    OutboxMessage,
)
from mailflow.routing.waiting import outlook, why_waiting
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin import story
from mailflow.web.admin.auth import CurrentAdmin
from mailflow.web.admin.common import (
    not_found,
    valid_id,
)
from mailflow.web.admin.leads.decisions import decision_rows
from mailflow.web.admin.rendering import render
from mailflow.web.formats import admin_zone

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def _installer_options(session, lead: Lead) -> list[dict]:
    """Installers for the assign form: those serving the lead's postcode first."""
    installers = list(session.scalars(select(Installer).order_by(Installer.email)))
    held = lq.open_leads_by_installer(session)
    at = now()
    options = []
    for installer in installers:
        serves = installer.country == lead.country and any(
            lead.postcode.startswith(p) for p in installer.postcode_prefixes
        )
        away = (
            installer.vacation_from is not None
            and installer.vacation_until is not None
            and installer.vacation_from <= at < installer.vacation_until
        )
        notes = [f"{held.get(installer.id, 0)}/{installer.capacity} open", installer.tier]
        if not serves:
            notes.append("outside area")
        if away:
            notes.append("on vacation")
        if installer.bounced_at:
            notes.append("bounced")
        if not installer.active:
            notes.append("deactivated")
        options.append(
            {
                "id": installer.id,
                "label": f"{installer.email} — {installer.name} ({', '.join(notes)})",
                "serves": serves,
                "active": installer.active,
            }
        )
    options.sort(key=lambda o: (not o["serves"], not o["active"], o["label"]))
    return options


@router.get("/leads/{lead_id}")
def lead_detail(request: Request, lead_id: int, admin: CurrentAdmin) -> Response:
    if not valid_id(lead_id):
        return not_found(request, admin, f"lead #{lead_id}")
    with session_scope() as session:
        lead = session.get(
            Lead,
            lead_id,
            options=[
                joinedload(Lead.assigned_installer),
                selectinload(Lead.events),
            ],
        )
        if lead is None:
            return not_found(request, admin, f"lead #{lead_id}")
        offers = list(
            session.scalars(
                select(Offer)
                .where(Offer.lead_id == lead.id)
                .options(joinedload(Offer.installer))
                .order_by(Offer.id)
            )
        )
        notes = list(
            session.scalars(
                select(LeadNote).where(LeadNote.lead_id == lead.id).order_by(LeadNote.id.desc())
            )
        )
        documents = list(
            session.scalars(
                select(LeadDocument)
                .where(LeadDocument.lead_id == lead.id)
                .order_by(LeadDocument.id.desc())
            )
        )
        duplicates = list(
            session.execute(
                select(Lead.id, Lead.status, Lead.created_at)
                .where(Lead.duplicate_of_id == lead.id)
                .order_by(Lead.id)
                .limit(50)
            )
        )
        mails = list(
            session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.to,
                    OutboxMessage.template,
                    OutboxMessage.state,
                    OutboxMessage.created_at,
                    OutboxMessage.subject,
                )
                .where(OutboxMessage.lead_id == lead.id)
                .order_by(OutboxMessage.id.desc())
                .limit(30)
            )
        )
        inbound = (
            session.execute(
                select(InboundMessage.id, InboundMessage.channel, InboundMessage.outcome).where(
                    InboundMessage.id == lead.inbound_id
                )
            ).first()
            if lead.inbound_id
            else None
        )
        installers = _installer_options(session, lead) if admin.can_act else []
        routing_decisions = decision_rows(session, lead.id)
        events = list(lead.events)
        named = lq.installers_named(session, events)
        waits = (
            why_waiting(session, lead, now(), get_settings())
            if lead.status == LeadStatus.NEW and lead.waiting_since is not None
            else None
        )
    held = lead.status in HELD_STATUSES
    return render(
        request,
        "admin/lead_detail.html",
        admin=admin,
        lead=lead,
        offers=offers,
        events=events,
        notes=notes,
        documents=documents,
        duplicates=duplicates,
        mails=mails,
        inbound=inbound,
        installers=installers,
        held=held,
        final=lead.status in admin_actions.FINAL,
        closable=lead.status in admin_actions.CLOSABLE_FROM,
        openable=lead.status in lead_rules.OPENABLE and not lead_rules.in_exchange(lead),
        in_exchange=lead_rules.in_exchange(lead),
        max_document_mb=get_settings().document_max_bytes // (1024 * 1024),
        waits=waits,
        outlook=outlook,
        routing_decisions=routing_decisions,
        # Called by the template with the page's language (the admin's, once chosen).
        story=lambda language: story.timeline(
            events, installers=named, language=language, zone=admin_zone()
        ),
        progress_fields=lambda language: story.progress_fields(lead.progress, language),
        detail_fields=lambda language: story.detail_fields(lead.details, language),
        project_words=lambda language: story.project_words(lead, language),
        decline_reason=story.decline_reason,
    )


# ------------------------------------------------------------------ actions -----------------
