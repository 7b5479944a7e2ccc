"""Delivery to an installer's own tools: each lead they get, POSTed to their webhook URL as JSON
signed exactly as the intake webhook's requests are (:func:`mailflow.domain.intake.webhook.sign`:
HMAC-SHA256 over ``timestamp + "." + body``), with their own secret.

``queue_webhook`` writes the delivery as an outbox row (``channel="webhook"``) in the caller's
transaction, so the acceptance and its delivery commit together or not at all; the outbox's
sender (:func:`mailflow.outbound.outbox.deliver`) claims it, calls :func:`post` and records the
result: a 2xx answer is delivered, anything else (another status, a redirect, a refused
connection, a time-out) is retried with the outbox's backoff until its last attempt. The
signature and its timestamp are computed at each attempt (a receiver refuses old timestamps);
the delivery id is sent as ``Idempotency-Key`` so a receiver can drop a repeat.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.intake.webhook import sign
from mailflow.domain.lead_fields import request_fields
from mailflow.infra.enqueue import enqueue_on_commit
from mailflow.models import Installer, Lead, OutboxMessage, OutboxState
from mailflow.outbound.transports import PermanentFailure, TemporaryFailure

CHANNEL = "webhook"
EVENT = "lead.accepted"
TEMPLATE = "webhook_lead"
USER_AGENT = "mailflow-webhook/1"


def new_secret() -> str:
    """A per-installer signing secret (256 random bits, URL-safe text)."""
    return "whsec_" + secrets.token_urlsafe(32)


def new_delivery_id() -> str:
    return "whd_" + secrets.token_hex(16)


def lead_payload(
    lead: Lead,
    installer: Installer,
    *,
    via: str,
    delivery_id: str,
    at: datetime,
    settings: Settings,
) -> dict:
    """What the installer's tools receive: the lead with the customer's contact details."""
    accepted_at = lead.accepted_at or at
    return {
        "event": EVENT,
        "delivery_id": delivery_id,
        "installer_id": installer.id,
        "lead_id": lead.id,
        "via": via,
        "accepted_at": accepted_at.isoformat(),
        **request_fields(lead),
        "dashboard_url": f"{settings.base_url.rstrip('/')}/dashboard/leads/{lead.id}",
    }


def encode(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def queue_webhook(
    session: Session,
    lead: Lead,
    installer: Installer,
    *,
    via: str,
    now: datetime,
    settings: Settings,
) -> OutboxMessage | None:
    """The delivery of ``lead`` to the installer's webhook, as an outbox row of this
    transaction (None when the installer has no webhook)."""
    if not installer.webhook_url or not installer.webhook_secret:
        return None
    delivery_id = new_delivery_id()
    payload = lead_payload(
        lead, installer, via=via, delivery_id=delivery_id, at=now, settings=settings
    )
    body = encode(payload)
    row = OutboxMessage(
        channel=CHANNEL,
        to=installer.webhook_url,
        template=TEMPLATE,
        language=installer.language or "en",
        subject=f"{EVENT} #{lead.id}",
        body_text=json.dumps(payload, ensure_ascii=False, indent=2, default=str),
        body_html=None,
        headers={"Content-Type": "application/json"},
        raw=body,
        state=OutboxState.QUEUED,
        message_id=delivery_id,
        lead_id=lead.id,
        installer_id=installer.id,
        created_at=now,
        next_attempt_at=None,
    )
    session.add(row)
    session.flush()
    enqueue_on_commit(session, "send_email", row.id)  # the outbox's one sender job
    return row


def signed_headers(secret: str, body: bytes, *, delivery_id: str, at: datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Mailflow-Event": EVENT,
        "X-Mailflow-Timestamp": timestamp,
        "X-Mailflow-Signature": sign(secret, timestamp, body),
        "Idempotency-Key": delivery_id,
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: a POST is not re-sent elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def check_public(url: str) -> None:
    """The URL's host must resolve to public addresses only: an installer's address never
    makes this server call into its own network (PermanentFailure). A name that does not
    resolve now is retried (TemporaryFailure)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TemporaryFailure(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise PermanentFailure(f"{host} is a local or private address ({address})")


def post(
    url: str | None,
    secret: str | None,
    body: bytes,
    *,
    delivery_id: str,
    at: datetime,
    timeout: float,
    allow_local: bool = False,
) -> int:
    """POST one delivery; returns the 2xx status. Raises TemporaryFailure for anything else
    (retried with the outbox's backoff), PermanentFailure when there is nowhere to send (no
    webhook any more, or an address of a local network without MAILFLOW_WEBHOOK_ALLOW_LOCAL)."""
    if not url or not secret:
        raise PermanentFailure("the installer has no webhook any more")
    if not allow_local:
        check_public(url)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers=signed_headers(secret, body, delivery_id=delivery_id, at=at),
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise TemporaryFailure(f"HTTP {exc.code} {exc.reason}".strip()) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TemporaryFailure(f"{type(exc).__name__}: {reason}") from None
    if not 200 <= status < 300:
        raise TemporaryFailure(f"HTTP {status}")
    return status
