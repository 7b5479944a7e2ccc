"""``POST /api/leads``: signature check and idempotent lead creation (plain functions; the
FastAPI route in ``mailflow.web.api`` is a thin adapter)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.intake.schema import LeadIn, error_map
from mailflow.domain.intake.webhook import SignedRequest
from mailflow.leads.intake_limit import route_or_hold
from mailflow.leads.service import create_lead
from mailflow.models import (
    Channel,
    InboundMessage,
    InboundOutcome,
    Lead,
    LeadStatus,
    WebhookKey,
    WebhookSignature,
)


@dataclass
class WebhookResult:
    status_code: int
    body: dict = field(default_factory=dict)


def lead_summary(lead: Lead) -> dict:
    return {
        "id": lead.id,
        "status": lead.status.value,
        "duplicate_of": lead.duplicate_of_id,
    }


def accept_webhook(
    session: Session,
    body: bytes,
    *,
    idempotency_key: str | None,
    now: datetime,
    settings: Settings,
    signed: SignedRequest | None = None,
) -> WebhookResult:
    """Validate and create the lead in the caller's transaction. 201 new, 200 replay (same
    Idempotency-Key, or the same signed request again), 409 a key reused for another body,
    422 invalid (nothing written)."""
    body_hash = hashlib.sha256(body).hexdigest()
    if idempotency_key:
        replay = _replay(session, idempotency_key, body_hash)
        if replay is not None:
            return replay
    if signed is not None:
        replay = _signature_replay(session, signed.signature)
        if replay is not None:
            return replay
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return WebhookResult(
            422, {"detail": "body is not valid JSON", "errors": {"body": str(exc)}}
        )
    except RecursionError:
        return WebhookResult(
            422, {"detail": "body is not valid JSON", "errors": {"body": "nested too deeply"}}
        )
    try:
        lead_in = LeadIn.model_validate(data, context={"default_country": settings.default_country})
    except ValidationError as exc:
        errors = error_map(exc)
        return WebhookResult(
            422, {"detail": "invalid lead: " + ", ".join(sorted(errors)), "errors": errors}
        )
    inbound = InboundMessage(
        channel=Channel.WEBHOOK,
        dedup_key=f"idem:{idempotency_key}" if idempotency_key else f"webhook:{uuid.uuid4()}",
        size=len(body),
        raw=body,
        received_at=now,
    )
    session.add(inbound)
    session.flush()
    lead = create_lead(
        session,
        lead_in,
        now=now,
        source="webhook",
        channel="webhook",
        inbound_id=inbound.id,
        window_days=settings.duplicate_window_days,
    )
    inbound.lead_id = lead.id
    inbound.outcome = (
        InboundOutcome.DUPLICATE if lead.status == LeadStatus.DUPLICATE else InboundOutcome.LEAD
    )
    inbound.processed_at = now
    if idempotency_key:
        session.add(
            WebhookKey(
                key=idempotency_key,
                body_sha256=body_hash,
                lead_id=lead.id,
                inbound_id=inbound.id,
                created_at=now,
            )
        )
    if signed is not None:
        # Signatures whose timestamp is refused anyway need no remembering.
        session.execute(delete(WebhookSignature).where(WebhookSignature.expires_at < now))
        session.add(
            WebhookSignature(
                signature=signed.signature, lead_id=lead.id, expires_at=signed.expires_at
            )
        )
    session.flush()
    route_or_hold(session, lead, inbound, now=now, settings=settings)
    return WebhookResult(201, lead_summary(lead))


def _signature_replay(session: Session, signature: str) -> WebhookResult | None:
    known = session.get(WebhookSignature, signature)
    if known is None:
        return None
    lead = session.get(Lead, known.lead_id) if known.lead_id else None
    return WebhookResult(200, lead_summary(lead) if lead else {"id": None})


def _replay(session: Session, key: str, body_hash: str) -> WebhookResult | None:
    known = session.get(WebhookKey, key)
    if known is None:
        return None
    if known.body_sha256 != body_hash:
        return WebhookResult(409, {"detail": "Idempotency-Key was already used with another body"})
    lead = session.get(Lead, known.lead_id) if known.lead_id else None
    return WebhookResult(200, lead_summary(lead) if lead else {"id": None})
