"""Raw mail for intake tests, signed webhook requests, and links out of the emails mailflow
sends."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.domain.intake.webhook import sign
from mailflow.models import InboundMessage
from support.offers import emails_to
from support.people import GOLD_PARIS

STEP_LINK = re.compile(r'href="(http://[^"]+/l/status/[^"]+)"[^>]*>([^<]+)<')


def crlf(raw: bytes) -> bytes:
    """Files on disk have bare LF line ends; on the wire SMTP has CRLF (as any MTA sends)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def simple_lead(
    message_id: str | None = "<lead-1@site.example>",
    name: str = "Anna Weber",
    email: str = "anna.weber@example.de",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Formular <form@site.example>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = "Anfrage"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(
        f"Name: {name}\nE-Mail: {email}\nTelefon: 030 1234567\nPLZ: 10115\nOrt: Berlin\nLand: DE\n"
    )
    return msg.as_bytes()


def inbound_rows(settings) -> list[InboundMessage]:
    with session_scope(settings) as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def email_links(settings) -> dict[str, str]:
    """Step label → path, from the acceptance email's HTML part."""
    (mail,) = emails_to(settings, GOLD_PARIS, "offer_accepted")
    return {
        label.strip(): url.split("127.0.0.1:8000")[1]
        for url, label in STEP_LINK.findall(mail.body_html)
    }


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, key: str | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Mailflow-Timestamp": ts,
        "X-Mailflow-Signature": sign(secret, ts, body),
    }
    if key:
        headers["Idempotency-Key"] = key
    return headers
