"""The customer's request as both of a lead's JSON shapes carry it: the read API's lead
(:func:`mailflow.web.serialize.lead_full`) and the installer webhook's delivery
(:func:`mailflow.outbound.webhooks.lead_payload`). Pure: it reads the lead's attributes only.
"""

from __future__ import annotations

from typing import Any, Protocol


class LeadRequest(Protocol):
    product: str | None
    building_type: str | None
    grid_connection: str | None
    customer_name: str
    email: str | None
    phone: str | None
    street: str | None
    postcode: str
    city: str | None
    country: str
    language: str | None
    reachability: str | None
    message: str | None
    details: dict[str, Any] | None


def request_fields(lead: LeadRequest) -> dict[str, Any]:
    """The product, building and grid, the customer's contact details, message and details,
    in this order (the keys both shapes put between their own)."""
    return {
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
        "details": dict(lead.details or {}),
    }
