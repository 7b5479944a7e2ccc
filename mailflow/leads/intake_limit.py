"""The intake limit: a flood of leads from one sender waits for an admin instead of reaching
installers.

A real form sends a handful of leads an hour from one customer's address; twelve lead emails
in a tenth of a second from one address are someone testing us, or worse. Beyond
``MAILFLOW_LEAD_LIMIT_PER_SENDER`` leads per sender address (SMTP/IMAP) within
``MAILFLOW_LEAD_LIMIT_WINDOW_MINUTES`` (and ``MAILFLOW_LEAD_LIMIT_PER_WEBHOOK`` for the
webhook's one client), a new lead is ``held``: it is not offered to anyone, and admins release
it (rotation) or reject it (spam) from the review page. Lead platforms that send every lead
from one address are listed in ``MAILFLOW_LEAD_LIMIT_TRUSTED_SENDERS``. Imports are an
admin's own doing and have no limit.

The window is counted back from the message's arrival, not from its processing: a message
processed late (after an outage) is judged as it arrived.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from email.utils import getaddresses

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain import lead as lead_rules
from mailflow.domain.intake.headers import headers_of
from mailflow.leads.created import lead_created
from mailflow.leads.service import add_event
from mailflow.models import Actor, Channel, InboundMessage, Lead, LeadStatus


def sender_of(row: InboundMessage, raw: bytes | None) -> str | None:
    """The envelope sender (SMTP); for IMAP, where there is none, the Return-Path the
    delivering server recorded, else the From address. Recorded on the row, so the next
    message of the same sender finds it."""
    if row.envelope_from:
        return row.envelope_from
    if row.channel != Channel.IMAP or raw is None:
        return None
    headers = headers_of(raw)
    for name in ("Return-Path", "From"):
        found = [a for _, a in getaddresses([str(headers.get(name) or "")]) if a]
        if found:
            row.envelope_from = found[0][:512]
            return row.envelope_from
    return None


def trusted(settings: Settings, sender: str) -> bool:
    sender = sender.lower()
    domain = "@" + sender.rpartition("@")[2]
    for entry in settings.lead_limit_trusted_senders.split(","):
        entry = entry.strip().lower()
        if entry and entry in (sender, domain):
            return True
    return False


def _serialise(session: Session, key: str) -> None:
    # Two workers counting the same sender at once must not both see room for one more.
    if session.get_bind().dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(_LOCK, {"key": lock})


# The leads other messages brought within the window, built once (#21).
_IN_WINDOW = select(func.count(InboundMessage.id)).where(
    InboundMessage.id != bindparam("id"),
    InboundMessage.lead_id.is_not(None),
    InboundMessage.received_at > bindparam("since"),
    InboundMessage.received_at <= bindparam("until"),
)
_FROM_WEBHOOK = _IN_WINDOW.where(InboundMessage.channel == Channel.WEBHOOK)
_FROM_SENDER = _IN_WINDOW.where(InboundMessage.envelope_from == bindparam("sender"))
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def over_limit(
    session: Session, row: InboundMessage, settings: Settings, raw: bytes | None = None
) -> str | None:
    """Why the lead that ``row`` brought is held, or None when it may go to installers."""
    window = timedelta(minutes=settings.lead_limit_window_minutes)
    params = {"id": row.id, "since": row.received_at - window, "until": row.received_at}
    if row.channel == Channel.WEBHOOK:
        limit, who = settings.lead_limit_per_webhook, "the webhook"
        query = _FROM_WEBHOOK
    elif row.channel in (Channel.SMTP, Channel.IMAP):
        sender = sender_of(row, raw)
        if not sender or trusted(settings, sender):
            return None
        limit, who = settings.lead_limit_per_sender, sender
        query, params["sender"] = _FROM_SENDER, sender
    else:
        return None
    if not limit:
        return None
    _serialise(session, f"intake-limit|{who}")
    if (session.scalar(query, params) or 0) < limit:
        return None
    return f"more than {limit} leads from {who} within {settings.lead_limit_window_minutes} minutes"


def route_or_hold(
    session: Session,
    lead: Lead,
    row: InboundMessage,
    *,
    now: datetime,
    settings: Settings,
    raw: bytes | None = None,
    route_inline: bool = False,
) -> None:
    """Start the new lead's rotation, unless its sender is over the limit: then it is held.
    ``route_inline``: see :func:`mailflow.leads.created.lead_created`."""
    reason = over_limit(session, row, settings, raw) if lead.status == LeadStatus.NEW else None
    if reason is None:
        lead_created(session, lead, now=now, settings=settings, route_inline=route_inline)
        return
    lead_rules.move(lead, LeadStatus.HELD, by=Actor.SYSTEM)
    lead.status_changed_at, lead.updated_at = now, now
    add_event(session, lead, "held", at=now, reason=reason, inbound_id=row.id)
