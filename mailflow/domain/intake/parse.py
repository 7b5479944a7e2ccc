"""Parse one inbound message into a lead, a bounce, an auto-reply, or a quarantine reason.

Pure: no I/O, no clock, no database. :func:`parse_message` never raises; whatever cannot be read
is quarantined with a reason that names the problem.

Order of decisions: bounce (RFC 3464 DSNs and the common non-standard ones) before auto-reply
(RFC 3834 headers, "Out of Office" subjects), then the lead itself from, by preference, a JSON
part, a forwarded message, or the text (else HTML) body read as ``Label: value`` lines or table
rows. See PRODUCT.md §2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from pydantic import ValidationError

from mailflow.domain.intake.autoreplies import auto_reply_signal
from mailflow.domain.intake.bounces import BounceInfo, detect_bounce, find_verp
from mailflow.domain.intake.bulk import NOT_A_LEAD, Verdict, bulk_signal, judge
from mailflow.domain.intake.candidates import best_candidate
from mailflow.domain.intake.forwards import Context
from mailflow.domain.intake.mime import MAX_DEPTH, header, parse_bytes, payload
from mailflow.domain.intake.quotes import referenced_ids, reply_view
from mailflow.domain.intake.schema import LeadIn, error_map

NO_LEAD_FIELDS = "no lead fields found"


@dataclass(frozen=True)
class ParseResult:
    kind: str  # "lead" | "bounce" | "auto_reply" | "quarantine"
    lead: LeadIn | None = None  # validated, for kind == "lead"
    reason: str | None = None  # for quarantine: names the problem, never empty
    bounce: BounceInfo | None = None
    info: dict = field(default_factory=dict)  # for admins; JSON-serialisable


def parse_message(
    raw: bytes, *, default_country: str = "FR", envelope_to: list[str] | None = None
) -> ParseResult:
    """Classify and parse one raw inbound message. Never raises."""
    try:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        elif isinstance(raw, bytearray | memoryview):
            raw = bytes(raw)
        if not isinstance(raw, bytes):
            return _quarantine(f"not a message: got {type(raw).__name__}", {})
        envelope = [str(address) for address in (envelope_to or []) if address]
        return _parse(raw, (default_country or "FR").upper(), envelope)
    except Exception as exc:  # the contract: never raise, quarantine instead
        return _quarantine(f"unparseable message: {type(exc).__name__}: {exc}"[:500], {})


def _quarantine(reason: str, info: dict) -> ParseResult:
    return ParseResult(kind="quarantine", reason=reason or "unparseable message", info=info)


def _parse(raw: bytes, default_country: str, envelope_to: list[str]) -> ParseResult:
    if not raw.strip(b" \t\r\n\x00"):
        return _quarantine("empty message", {})
    if b"\x00" in raw:
        # NUL is never valid in a message (RFC 5322): a broken mailer; an admin looks (the
        # intake pipeline applies the same rule before parsing)
        return _quarantine(
            "message contains NUL bytes, which are not allowed in email",
            {"nul_bytes": raw.count(b"\x00")},
        )
    message, repairs = parse_bytes(raw)
    info: dict[str, Any] = {"subject": header(message, "Subject")[:300]}
    in_reply_to = header(message, "In-Reply-To")
    if in_reply_to:
        info["in_reply_to"] = in_reply_to[:300]  # lets the caller recognise installer replies
    references = referenced_ids(message)
    if references:
        info["references"] = references[:10]
    if repairs:
        info["repairs"] = repairs
    defects = _defects(message)
    if defects:
        info["mime_defects"] = defects

    bounce = detect_bounce(message, envelope_to)
    if bounce is not None:
        return ParseResult(kind="bounce", bounce=bounce, info=info)

    signal, strong = auto_reply_signal(message)
    if signal:
        info["auto_reply_signal"] = signal
        verp = find_verp(message, envelope_to)
        if verp is not None:
            info["verp_id"] = verp[0]
    if signal and strong:
        return ParseResult(kind="auto_reply", info=info)

    # A reply's quoted text (the offer it answers, a customer's mail) is not the sender's lead.
    # These two checks only ever take a lead away: when one of them fails on a strange
    # message, the message is parsed as it was before them (and the failure noted).
    try:
        body = reply_view(message)
    except Exception as exc:
        info["reply_view_error"] = f"{type(exc).__name__}: {exc}"[:200]
        body = None
    if body is not None:
        info["quoted_text_ignored"] = True
    else:
        body = message
    try:
        bulk = bulk_signal(body)
    except Exception as exc:
        info["bulk_error"] = f"{type(exc).__name__}: {exc}"[:200]
        bulk = None
    if bulk:
        info["bulk"] = bulk
    candidate = best_candidate(body, Context.of(message), depth=0)
    # A weak signal (Auto-Submitted: auto-generated, Precedence: bulk) is also what lead
    # platforms send their notifications with: only what is not a valid lead is an auto-reply.
    if candidate is None:
        if bulk:
            return _not_a_lead(bulk, "no lead fields", info)
        if signal:
            return ParseResult(kind="auto_reply", info=info)
        if "quoted_text_ignored" in info:
            return _quarantine(f"{NO_LEAD_FIELDS} (the quoted text of a reply is not read)", info)
        return _quarantine(NO_LEAD_FIELDS, info)
    data, lead_info = candidate.build(default_country)
    info.update(lead_info)
    try:
        lead = LeadIn.model_validate(data, context={"default_country": default_country})
    except ValidationError as exc:
        if bulk:
            return _not_a_lead(bulk, describe_errors(error_map(exc)), info)
        if signal:
            return ParseResult(kind="auto_reply", info=info)
        info["candidate"] = _jsonable(data)
        return _quarantine(describe_errors(error_map(exc)), info)
    if bulk:
        # Newsletters' imprints have Name/Address/Phone lines; lead platforms send with
        # Precedence: bulk too. Only a clear lead counts (``bulk.judge``).
        try:
            verdict = judge(body, lead, candidate.layout)
        except Exception as exc:
            info["bulk_error"] = f"{type(exc).__name__}: {exc}"[:200]
            verdict = Verdict(True, "not judged")
        info["bulk_verdict"] = verdict.why
        if not verdict.clearly_a_lead:
            info["candidate"] = _jsonable(data)
            return _not_a_lead(bulk, verdict.why, info)
    return ParseResult(kind="lead", lead=lead, info=info)


def _not_a_lead(signal: str, why: str, info: dict) -> ParseResult:
    """Bulk mail: recorded as automatic mail (nobody answers a newsletter), with the reason."""
    return ParseResult(kind="auto_reply", reason=f"{NOT_A_LEAD} ({signal}): {why}"[:500], info=info)


def describe_errors(errors: dict[str, str]) -> str:
    """A quarantine reason naming every offending field."""
    parts = []
    for location, message in errors.items():
        if message.lower() == "field required":
            parts.append(f"missing required field: {location}")
        elif "email or a phone" in message:
            parts.append(f"missing required field: {location}.email or {location}.phone")
        else:
            parts.append(f"invalid {location}: {message}")
    return "; ".join(parts) or "invalid lead"


def _defects(message: Message) -> list[str]:
    names: list[str] = []
    stack = [(message, 0)]
    while stack and len(names) < 20:
        part, depth = stack.pop()
        for defect in getattr(part, "defects", []) or []:
            name = type(defect).__name__
            if name not in names:
                names.append(name)
        content = payload(part) if depth < MAX_DEPTH else None
        if isinstance(content, list):
            stack.extend((sub, depth + 1) for sub in content if isinstance(sub, Message))
    return names


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
