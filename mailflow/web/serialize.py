"""JSON shapes of the read API (PRODUCT.md §11). Times are ISO-8601 UTC with a ``Z``."""

from __future__ import annotations

from datetime import datetime

from mailflow.clock import as_utc
from mailflow.models import InboundMessage, Installer, Lead, OutboxMessage


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


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
        "product": lead.product,
        "building_type": lead.building_type,
        "grid_connection": lead.grid_connection,
        "customer": {
            "name": lead.customer_name,
            "email": lead.email,
            "phone": lead.phone,
            "street": lead.street,
            "postcode": lead.postcode,
            "city": lead.city,
            "country": lead.country,
            "language": lead.language,
            "reachability": lead.reachability,
        },
        "message": lead.message,
        "details": lead.details or {},
        "assigned_to": lead.assigned_installer.email if lead.assigned_installer else None,
        "offers": offers or [],
        "events": [
            {"at": iso(e.at), "type": e.type, "actor": e.actor.value, "data": e.data or {}}
            for e in lead.events
        ],
        "created_at": iso(lead.created_at),
        "updated_at": iso(lead.updated_at),
    }


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
