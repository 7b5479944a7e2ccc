"""JSON shapes of the read API (PRODUCT.md §11). Times are ISO-8601 UTC with a ``Z``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailflow.clock import iso
from mailflow.domain.lead_fields import request_fields
from mailflow.models import InboundMessage, Installer, Lead, Offer, OutboxMessage


def lead_brief(lead: Lead) -> dict:
    return {
        "id": lead.id,
        "status": lead.status.value,
        "source": lead.source,
        "external_id": lead.external_id,
        "duplicate_of": lead.duplicate_of_id,
        "product": lead.product,
        "postcode": lead.postcode,
        "city": lead.city,
        "country": lead.country,
        "assigned_to": lead.assigned_installer.email if lead.assigned_installer else None,
        "created_at": iso(lead.created_at),
        "updated_at": iso(lead.updated_at),
    }


def lead_full(lead: Lead, offers: list[dict] | None = None) -> dict:
    return {
        "id": lead.id,
        "status": lead.status.value,
        "source": lead.source,
        "external_id": lead.external_id,
        "duplicate_of": lead.duplicate_of_id,
        **request_fields(lead),
        "assigned_to": lead.assigned_installer.email if lead.assigned_installer else None,
        "offers": offers or [],
        "events": [
            {"at": iso(e.at), "type": e.type, "actor": e.actor.value, "data": e.data or {}}
            for e in lead.events
        ],
        "created_at": iso(lead.created_at),
        "updated_at": iso(lead.updated_at),
        "accepted_at": iso(lead.accepted_at) if lead.accepted_at else None,
        "first_contact_at": iso(lead.first_contact_at) if lead.first_contact_at else None,
        "held_until": iso(lead.held_until) if lead.held_until else None,
    }


def spread_out(spread) -> dict:
    def seconds(value):
        return None if value is None else round(value.total_seconds())

    return {
        "count": spread.count,
        "median_seconds": seconds(spread.median),
        "p90_seconds": seconds(spread.p90),
    }


def offers_for(session: Session, lead: Lead) -> list[dict]:
    """The offers of a lead as the API shows them, oldest first."""
    rows = session.scalars(
        select(Offer)
        .where(Offer.lead_id == lead.id)
        .options(selectinload(Offer.installer))
        .order_by(Offer.id)
    )
    return [
        {
            "installer": o.installer.email,
            "status": o.status.value,
            "offered_at": iso(o.offered_at),
            "deadline": iso(o.deadline),
            "answered_at": iso(o.answered_at),
            "decline_reason": o.decline_reason,
            "reason": o.routing_reason,
        }
        for o in rows
    ]


def inbound_item(row: InboundMessage) -> dict:
    return {
        "id": row.id,
        "channel": row.channel.value,
        "message_id": row.message_id,
        "received_at": iso(row.received_at),
        "outcome": row.outcome.value,
        "reason": row.reason,
        "lead_id": row.lead_id,
        "size": row.size,
    }


def outbox_item(row: OutboxMessage) -> dict:
    return {
        "id": row.id,
        "to": row.to,
        "template": row.template,
        "channel": row.channel,
        "state": row.state.value,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "message_id": row.message_id,
        "lead_id": row.lead_id,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }


def installer_item(row: Installer, open_leads: int) -> dict:
    return {
        "email": row.email,
        "name": row.name,
        "company": row.company,
        "language": row.language,
        "country": row.country,
        "timezone": row.timezone,
        "postcodes": row.postcode_prefixes,
        "tier": row.tier,
        "active": row.active,
        "vacation_from": iso(row.vacation_from),
        "vacation_until": iso(row.vacation_until),
        "capacity": row.capacity,
        "open_leads": open_leads,
        "rating": row.rating,
        "bounced": row.bounced_at is not None,
    }


# ------------------------------------------------------------------ response models ---------
# The shapes above as pydantic models, so that the OpenAPI schema at /api/openapi.json (and the
# docs at /api/docs) describe every answer of the read API.
class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeadBriefOut(_Out):
    id: int
    status: str = Field(description="Lead status (PRODUCT.md §11).")
    source: str
    external_id: str | None
    duplicate_of: int | None = Field(description="Id of the lead this one duplicates.")
    product: str | None
    postcode: str
    city: str | None
    country: str
    assigned_to: str | None = Field(description="Email of the installer holding the lead.")
    created_at: str | None = Field(description="ISO-8601 UTC.")
    updated_at: str | None = Field(description="ISO-8601 UTC.")


class LeadPageOut(_Out):
    items: list[LeadBriefOut]
    total: int = Field(description="How many leads match the filters (all pages).")


class CustomerOut(_Out):
    name: str
    email: str | None
    phone: str | None = Field(description="E.164.")
    street: str | None
    postcode: str
    city: str | None
    country: str
    language: str | None
    reachability: str | None


class OfferOut(_Out):
    installer: str
    status: str = Field(description="offered, accepted, declined, expired or withdrawn.")
    offered_at: str | None
    deadline: str | None
    answered_at: str | None
    decline_reason: str | None = None
    reason: str | None = Field(None, description="Why the rotation chose this installer.")


class EventOut(_Out):
    at: str | None
    type: str
    actor: str = Field(description="system, installer, customer or admin.")
    data: dict[str, Any]


class LeadOut(_Out):
    id: int
    status: str
    source: str
    external_id: str | None
    duplicate_of: int | None
    product: str | None
    building_type: str | None
    grid_connection: str | None
    customer: CustomerOut
    message: str | None
    details: dict[str, Any]
    assigned_to: str | None
    offers: list[OfferOut]
    events: list[EventOut]
    created_at: str | None
    updated_at: str | None
    accepted_at: str | None = Field(description="When the holder accepted it (ISO-8601 UTC).")
    first_contact_at: str | None = Field(
        description="When the holder first recorded a status or revealed the contact details."
    )
    held_until: str | None = Field(
        description="Held until the chosen installer's working hours start (short windows)."
    )


class SpreadOut(_Out):
    count: int = Field(description="Leads with this time.")
    median_seconds: int | None
    p90_seconds: int | None = Field(description="90th percentile (nearest rank).")


class SpeedGroupOut(_Out):
    key: str | None = Field(description="Installer email, source, product or tier; null = all.")
    leads: int = Field(description="Leads that arrived in the period (duplicates aside).")
    to_acceptance: SpreadOut = Field(description="From arrival to acceptance.")
    to_first_contact: SpreadOut = Field(description="From arrival to first contact.")


class SpeedOut(_Out):
    groups: list[SpeedGroupOut]


class InboundOut(_Out):
    id: int
    channel: str
    message_id: str | None
    received_at: str | None
    outcome: str = Field(
        description="pending, lead, duplicate, bounce, auto_reply, reply or quarantined."
    )
    reason: str | None
    lead_id: int | None
    size: int


class InboundPageOut(_Out):
    items: list[InboundOut]


class OutboxOut(_Out):
    id: int
    to: str = Field(description="The recipient's address, or a webhook's URL.")
    template: str
    channel: str = Field(
        description="email, or webhook: a lead POSTed to an installer's own tools "
        "(docs/webhooks.md)."
    )
    state: str = Field(description="queued, sending, sent, failed, bounced or cancelled.")
    attempts: int
    last_error: str | None
    message_id: str | None
    lead_id: int | None
    created_at: str | None
    sent_at: str | None


class OutboxPageOut(_Out):
    items: list[OutboxOut]


class InstallerOut(_Out):
    email: str
    name: str
    company: str | None
    language: str
    country: str
    timezone: str
    postcodes: list[str]
    tier: str
    active: bool
    vacation_from: str | None
    vacation_until: str | None
    capacity: int
    open_leads: int
    rating: float | None
    bounced: bool


class InstallerPageOut(_Out):
    items: list[InstallerOut]


class ErrorOut(BaseModel):
    detail: str


class ValidationErrorOut(BaseModel):
    detail: str
    errors: dict[str, str] = Field(description="Message per invalid parameter.")
