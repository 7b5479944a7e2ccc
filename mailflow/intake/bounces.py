"""Acting on a bounce: only on a message we sent, and only as far as the evidence goes.

Anyone can mail the intake address, so a bounce is checked before it changes anything:

1. its VERP address (``bounces+<outbox id>-<signature>@``) must carry a valid signature
   (:mod:`mailflow.outbound.verp`): unsigned addresses, whether guessed or from mail sent before
   signing, are ignored and logged; headers such as ``X-Failed-Recipients`` never suffice;
2. the outbox message must have been sent, and the bounce must name its recipient: an RFC 3464
   report through a Final-Recipient or Original-Recipient field, a non-standard bounce (Exim,
   qmail) through the address it reports as failed;
3. a hard bounce (5.x.x) marks that message bounced and goes on the lead's timeline; a soft
   one (4.x.x) changes no state;
4. an installer's address is flagged (routing then skips it) only after hard bounces of
   ``bounce_disable_after`` different messages within ``bounce_window_days`` since an admin
   last cleared the flag; each verified bounce to an installer is kept as their history.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.intake.bounces import BounceInfo
from mailflow.leads.service import add_event
from mailflow.models import (
    BounceEvent,
    InboundMessage,
    Installer,
    Lead,
    OutboxMessage,
    OutboxState,
)
from mailflow.outbound.verp import verified_outbox_id
from mailflow.routing.withdrawals import withdraw_open_offers_of

log = logging.getLogger(__name__)

# Rows a genuine bounce can be about: we handed the message to the next MTA.
BOUNCEABLE = (OutboxState.SENT, OutboxState.BOUNCED)


def describe(bounce: BounceInfo) -> str:
    parts = [p for p in (bounce.recipient, bounce.status, bounce.diagnostic) if p]
    return "bounce: " + " ".join(parts) if parts else "bounce"


def admin_view(bounce: BounceInfo) -> dict:
    """What the inbound row keeps for admins: everything but the VERP signature (a credential
    for that message's bounces)."""
    data = asdict(bounce)
    data["verp_signed"] = data.pop("verp_signature") is not None
    data["reported_recipients"] = list(bounce.reported_recipients)
    return data


def bounced_message(
    session: Session, bounce: BounceInfo, settings: Settings
) -> tuple[OutboxMessage | None, str | None]:
    """The outbox message this bounce is verifiably about, or None and why it is ignored."""
    if bounce.verp_id is None:
        return None, "no return address of ours"
    if bounce.verp_signature is None:
        return None, f"unsigned return address bounces+{bounce.verp_id}@ (forged or pre-signing)"
    outbox_id = verified_outbox_id(settings, bounce.verp_id, bounce.verp_signature)
    if outbox_id is None:
        return None, f"return address for message {bounce.verp_id} has a bad signature"
    outbox = session.get(OutboxMessage, outbox_id)
    if outbox is None or outbox.state not in BOUNCEABLE:
        return None, f"message {outbox_id} was not sent"
    to = outbox.to.strip().lower()
    named = bounce.reported_recipients or ((bounce.recipient,) if bounce.recipient else ())
    if to not in named:
        return (
            None,
            f"bounce names {', '.join(named) or 'nobody'}, message {outbox_id} went to {to}",
        )
    return outbox, None


def record_bounce(
    session: Session,
    row: InboundMessage,
    bounce: BounceInfo,
    *,
    now: datetime,
    settings: Settings,
) -> str:
    """Apply a bounce in the caller's transaction; returns the reason the inbound row keeps."""
    row.parsed = {**(row.parsed or {}), "bounce": admin_view(bounce)}
    outbox, ignored = bounced_message(session, bounce, settings)
    if outbox is None:
        log.warning("inbound %s: bounce ignored: %s", row.id, ignored)
        row.parsed = {**row.parsed, "bounce_ignored": ignored}
        return f"{describe(bounce)} (ignored: {ignored})"[:2000]
    reason = describe(bounce)
    if bounce.permanent and outbox.state != OutboxState.BOUNCED:
        outbox.state = OutboxState.BOUNCED
        outbox.last_error = reason
        lead = session.get(Lead, outbox.lead_id) if outbox.lead_id else None
        if lead is not None:
            add_event(
                session,
                lead,
                "email_bounced",
                at=now,
                to=outbox.to,
                status=bounce.status,
                outbox_id=outbox.id,
            )
    installer = session.scalar(
        select(Installer).where(func.lower(Installer.email) == outbox.to.strip().lower())
    )
    if installer is not None:
        session.add(
            BounceEvent(
                at=now,
                outbox_id=outbox.id,
                installer_id=installer.id,
                inbound_id=row.id,
                recipient=outbox.to,
                status=bounce.status,
                permanent=bounce.permanent,
                diagnostic=bounce.diagnostic,
            )
        )
        session.flush()
        if bounce.permanent:
            _flag_if_repeated(session, installer, reason, now=now, settings=settings)
    return reason


def hard_bounced_messages(session: Session, installer: Installer, *, since: datetime) -> int:
    """Different messages to the installer that hard-bounced since ``since``."""
    return (
        session.scalar(
            select(func.count(func.distinct(BounceEvent.outbox_id))).where(
                BounceEvent.installer_id == installer.id,
                BounceEvent.permanent.is_(True),
                BounceEvent.at >= since,
            )
        )
        or 0
    )


def _flag_if_repeated(
    session: Session, installer: Installer, reason: str, *, now: datetime, settings: Settings
) -> None:
    if installer.bounced_at is not None:
        return
    since = now - timedelta(days=settings.bounce_window_days)
    if installer.bounce_cleared_at is not None and installer.bounce_cleared_at > since:
        since = installer.bounce_cleared_at
    count = hard_bounced_messages(session, installer, since=since)
    if count < settings.bounce_disable_after:
        return
    installer.bounced_at = now
    installer.bounce_reason = (
        f"{count} messages hard-bounced within {settings.bounce_window_days} days; last: {reason}"
    )[:2000]
    log.warning("installer %s flagged as bouncing: %s", installer.id, installer.bounce_reason)
    # Offers to an address that bounces would wait out their deadline unread: they move on now.
    withdraw_open_offers_of(session, installer, now=now, settings=settings)


def clear_bounce_flag(installer: Installer, *, now: datetime) -> bool:
    """Admin action: offers go to the address again; earlier bounces no longer count."""
    if installer.bounced_at is None:
        return False
    installer.bounced_at, installer.bounce_reason = None, None
    installer.bounce_cleared_at = now
    installer.updated_at = now
    return True


def bounce_history(session: Session, installer_id: int, limit: int = 30) -> list[BounceEvent]:
    return list(
        session.scalars(
            select(BounceEvent)
            .where(BounceEvent.installer_id == installer_id)
            .order_by(BounceEvent.id.desc())
            .limit(limit)
        )
    )
