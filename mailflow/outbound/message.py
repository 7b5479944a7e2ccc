"""Building the MIME message of an outbox row (standard library ``EmailMessage``)."""

from __future__ import annotations

from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, make_msgid

from mailflow.config import Settings
from mailflow.models import OutboxMessage
from mailflow.outbound.verp import domain_of, verp_address

__all__ = ["WIRE_POLICY", "build_message", "domain_of", "new_message_id", "verp_address"]


class _WirePolicy(EmailPolicy):
    """The SMTP policy, except that a subject is never folded right after ``Subject:``.
    The standard folder moves a long subject without a fitting first break to the next line
    (``Subject:\r\n Reminder…``), which readers (Python's parser among them) unfold into a
    subject starting with a space. Such a subject is folded at its spaces instead."""

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = super().fold_binary(name, value)
        if name.lower() != "subject" or not folded.startswith(f"{name}:{self.linesep}".encode()):
            return folded
        text = str(value)
        charset = "us-ascii" if text.isascii() else "utf-8"
        header = Header(text, charset, maxlinelen=self.max_line_length, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}".encode("ascii")


WIRE_POLICY = _WirePolicy() + SMTP


def new_message_id(settings: Settings) -> str:
    return make_msgid(idstring="mf", domain=domain_of(settings.from_address))


def build_message(row: OutboxMessage, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(settings.brand.sender_name, addr_spec=settings.from_address)
    msg["To"] = row.to
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id
    # Automatic mail (RFC 3834): no auto-replies back, please, and no out-of-office loops.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Return-Path"] = f"<{verp_address(settings, row.id)}>"
    msg["X-Mailflow-Outbox-Id"] = str(row.id)
    for name, value in (row.headers or {}).items():
        msg[name] = value
    msg.set_content(row.body_text or "", charset="utf-8", cte="quoted-printable")
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in row.attachments or []:
        maintype, _, subtype = attachment["content_type"].partition("/")
        params = attachment.get("params") or {}
        msg.add_attachment(
            attachment["content"].encode("utf-8"),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
            params=params,
        )
    return msg
