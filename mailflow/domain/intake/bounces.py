"""Recognising a bounce (RFC 3464 DSNs and the common non-standard ones) and finding the
VERP address of the message it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mailflow.domain.intake.limits import MAX_BODY_CHARS
from mailflow.domain.intake.mime import (
    DELIVERY_STATUS_TYPES,
    EMAIL_ADDRESS,
    addresses,
    clean_text,
    content_type,
    header,
    header_all,
    leaves,
    param,
    part_text,
    payload,
    payload_bytes,
)
from mailflow.domain.intake.values import normalise_words


@dataclass(frozen=True)
class BounceInfo:
    recipient: str | None  # Final-Recipient / Original-Recipient address (lower-cased)
    status: str | None  # e.g. "5.1.1"
    action: str | None  # "failed", "delayed", ...
    diagnostic: str | None  # Diagnostic-Code text
    verp_id: int | None  # N of a "bounces+N[-signature]@..." address, else None
    permanent: bool  # status 5.x.x (or, without a status, action failed)
    # The signature of that VERP address, checked by the caller (it holds the key); None for an
    # unsigned (old or guessed) address.
    verp_signature: str | None = None
    # Every Final-Recipient / Original-Recipient of the RFC 3464 report (lower-cased); empty
    # when the bounce is not a DSN (then ``recipient`` comes from headers or the text).
    reported_recipients: tuple[str, ...] = ()


_DAEMON_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|postmaster|mdaemon|"
    r"microsoftexchange[0-9a-f]*)$"
)
_BOUNCE_SUBJECT = re.compile(
    r"\b(undeliver\w*|undelivered|delivery status notification|returned mail|returned to sender|"
    r"mail delivery fail\w*|delivery fail\w*|failure notice|delivery has failed|"
    r"could not be delivered|not delivered|delivery notification|mail system error|"
    r"delayed mail|delivery delayed|message delayed|delivery report|non remis|"
    r"non distribuable|echec de (la )?remise|remise differee|unzustellbar|nicht zustellbar|"
    r"zustellung fehlgeschlagen|unzustellbare|niedostarcz\w*|nie mozna dostarczyc|"
    r"nie dostarczono)\b"
)
_DELAY_WORDS = re.compile(
    r"\b(delay\w*|warning|will (be )?retr\w*|still trying|verzogert|retard\w*|differe\w*|"
    r"opozni\w*)\b"
)
_STATUS_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -]")
# bounces+<outbox id>[-<signature>]@ (mailflow/outbound/verp.py makes them)
_VERP = re.compile(r"\bbounces\+(\d{1,18})(?:-([a-z0-9]{1,64}))?@", re.IGNORECASE)
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")


def _is_daemon(message: Message) -> bool:
    sender = header(message, "From")
    if "mail delivery" in sender.lower():  # "Mail Delivery System", "Mail Delivery Subsystem"
        return True
    for address in EMAIL_ADDRESS.findall(sender):
        if _DAEMON_LOCAL_PARTS.match(address.split("@")[0].lower()):
            return True
    return not EMAIL_ADDRESS.findall(sender) and "mailer-daemon" in sender.lower()


def detect_bounce(message: Message, envelope_to: list[str]) -> BounceInfo | None:
    report_type = (param(message, "report-type") or "").lower()
    parts = list(leaves(message))
    status_parts = [
        part
        for kind, part in parts
        if kind == "part" and content_type(part) in DELIVERY_STATUS_TYPES
    ]
    returned = any(kind == "message" for kind, _ in parts) or any(
        content_type(part) == "text/rfc822-headers" for _, part in parts
    )
    failed_header = header(message, "X-Failed-Recipients")
    subject = normalise_words(header(message, "Subject"))
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject))
    null_sender = header(message, "Return-Path").strip() == "<>"
    verp = find_verp(message, envelope_to, deep=False)
    is_dsn = bool(status_parts) or (
        content_type(message) == "multipart/report" and report_type == "delivery-status"
    )
    is_bounce = (
        is_dsn
        or bool(failed_header)
        or (_is_daemon(message) and (bounce_subject or returned))
        or (bounce_subject and (null_sender or verp is not None))
    )
    if not is_bounce:
        return None
    if verp is None:
        verp = find_verp(message, envelope_to)

    records = [r for part in status_parts for r in _status_records(part)]
    record = _pick_record(records)
    reported = tuple(
        dict.fromkeys(
            found.group().lower()
            for r in records
            for name in ("final-recipient", "original-recipient")
            for found in [EMAIL_ADDRESS.search(r.get(name, ""))]
            if found
        )
    )
    body = "\n".join(
        part_text(part)[0][:MAX_BODY_CHARS]
        for kind, part in parts
        if kind == "part" and content_type(part) in ("text/plain", "text/html")
    )
    recipient = None
    for value in (
        failed_header,
        record.get("final-recipient", ""),
        record.get("original-recipient", ""),
    ):
        found = EMAIL_ADDRESS.search(value)
        if found:
            recipient = found.group().lower()
            break
    if recipient is None:
        recipient = _recipient_in_text(body, _own_addresses(message, envelope_to))

    diagnostic = record.get("diagnostic-code")
    if diagnostic:
        diagnostic = re.sub(r"^\s*[\w-]+\s*;\s*", "", diagnostic)
    else:
        diagnostic = next(
            (line.strip() for line in body.splitlines() if _SMTP_REPLY.search(line)), None
        )
    status = None
    for text in (record.get("status", ""), diagnostic or "", body):
        found = _STATUS_CODE.search(text)
        if found:
            status = found.group(1)
            break
    action = (record.get("action") or "").strip().lower() or None
    if action is None:
        if status:
            action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[0])
        elif _DELAY_WORDS.search(subject):
            action = "delayed"
        else:
            action = "failed"
    return BounceInfo(
        recipient=recipient,
        status=status,
        action=action,
        diagnostic=(diagnostic or None) and diagnostic[:1000],
        verp_id=verp[0] if verp else None,
        # A 4.x.x status is a soft bounce whatever the action says.
        permanent=status.startswith("5") if status else action == "failed",
        verp_signature=verp[1] if verp else None,
        reported_recipients=reported,
    )


def _status_records(part: Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status part, keys lower-cased."""
    records = []
    content = payload(part)
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Message):
                records.append(
                    {
                        key.lower(): " ".join(clean_text(str(value)).split())
                        for key, value in block.raw_items()
                    }
                )
    if any("final-recipient" in r or "original-recipient" in r for r in records):
        return records
    # not split into blocks (global DSN, encoded part): read the text ourselves
    text = clean_text(payload_bytes(part).decode("utf-8", "replace"))
    records = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                last = key.strip().lower()
                fields[last] = value.strip()
        if fields:
            records.append(fields)
    return records


def _pick_record(records: list[dict[str, str]]) -> dict[str, str]:
    recipients = [r for r in records if "final-recipient" in r or "original-recipient" in r]
    for record in recipients:
        if record.get("action", "").lower().startswith("failed"):
            return record
    return recipients[0] if recipients else {}


def _own_addresses(message: Message, envelope_to: list[str]) -> set[str]:
    own = {address.lower() for address in envelope_to}
    for name in (*_RECIPIENT_HEADERS, "From", "Return-Path", "Sender"):
        own.update(addresses(message, name))
    return own


def _recipient_in_text(text: str, own: set[str]) -> str | None:
    """The first address of a bounce text that is neither ours nor a mail system's."""
    for address in EMAIL_ADDRESS.findall(text):
        address = address.lower().strip(".")
        local = address.split("@")[0]
        if address in own or _DAEMON_LOCAL_PARTS.match(local) or _VERP.search(address):
            continue
        return address
    return None


def find_verp(
    message: Message, envelope_to: list[str], deep: bool = True
) -> tuple[int, str | None] | None:
    """(N, signature) of a ``bounces+N-signature@`` address (signature None when unsigned):
    envelope, recipient headers, then (``deep``) the returned message and the body. Within one
    place a signed address is preferred to an unsigned one; checking the signature is the
    caller's business."""
    candidates = list(envelope_to)
    for name in _RECIPIENT_HEADERS:
        candidates.extend(header_all(message, name))
    found = _first_verp(candidates)
    if found is not None or not deep:
        return found
    texts = []
    for kind, part in leaves(message):
        if kind == "message":
            try:
                texts.append("\n".join(f"{key}: {value}" for key, value in part.raw_items()))
            except Exception:
                continue
        elif content_type(part).startswith("text/"):
            texts.append(part_text(part)[0][:MAX_BODY_CHARS])
    return _first_verp(texts)


def _first_verp(texts: list[str]) -> tuple[int, str | None] | None:
    unsigned = None
    for text in texts:
        for found in _VERP.finditer(text):
            if found.group(2):
                return int(found.group(1)), found.group(2).lower()
            if unsigned is None:
                unsigned = (int(found.group(1)), None)
    return unsigned
