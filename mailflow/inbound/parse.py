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
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from email.message import Message
from typing import Any

from pydantic import ValidationError

from mailflow.domain.intake import label_data, labels
from mailflow.domain.intake.mime import (
    DELIVERY_STATUS_TYPES,
    EMAIL_ADDRESS,
    MAX_DEPTH,
    addresses,
    clean_text,
    content_type,
    filename,
    header,
    header_all,
    html_to_lines,
    is_attachment,
    leaves,
    looks_like_html,
    param,
    parse_bytes,
    part_text,
    payload,
    payload_bytes,
)
from mailflow.domain.intake.schema import (
    BuildingType,
    CustomerIn,
    GridConnection,
    LeadIn,
    Product,
    Source,
    error_map,
    normalise_phone,
)
from mailflow.domain.intake.values import (
    country_of_phone,
    country_of_postcode,
    find_external_id,
    fold,
    mentions_calculator,
    normalise_words,
    number_with_unit,
    parse_bool,
    parse_building_type,
    parse_country,
    parse_grid_connection,
    parse_language,
    parse_orientation,
    parse_product,
    parse_source,
    product_mentions,
    split_address,
    split_postcode_city,
    split_postcode_prefix,
)

NO_LEAD_FIELDS = "no lead fields found"
# A lead fits in far less: bounded work whatever arrives (the intake limit is 10 MB).
MAX_BODY_CHARS = 1_000_000
MAX_LINES = 5000
MAX_MESSAGE_CHARS = 20000  # LeadIn.message's limit
CUT_MARK = " […]"
MAX_EXTRA = 100  # unknown labels kept per lead
PLAUSIBLE_CORE = 3  # customer fields (name, email, postcode …) that make a body look like a lead


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
    if repairs:
        info["repairs"] = repairs
    defects = _defects(message)
    if defects:
        info["mime_defects"] = defects

    bounce = _detect_bounce(message, envelope_to)
    if bounce is not None:
        return ParseResult(kind="bounce", bounce=bounce, info=info)

    signal, strong = _auto_reply_signal(message)
    if signal:
        info["auto_reply_signal"] = signal
        verp = _find_verp(message, envelope_to)
        if verp is not None:
            info["verp_id"] = verp[0]
    if signal and strong:
        return ParseResult(kind="auto_reply", info=info)

    candidate = _best_candidate(message, _Context.of(message), depth=0)
    # A weak signal (Auto-Submitted: auto-generated, Precedence: bulk) is also what lead
    # platforms send their notifications with: only what is not a valid lead is an auto-reply.
    if candidate is None:
        if signal:
            return ParseResult(kind="auto_reply", info=info)
        return _quarantine(NO_LEAD_FIELDS, info)
    data, lead_info = candidate.build(default_country)
    info.update(lead_info)
    try:
        lead = LeadIn.model_validate(data, context={"default_country": default_country})
    except ValidationError as exc:
        if signal:
            return ParseResult(kind="auto_reply", info=info)
        info["candidate"] = _jsonable(data)
        return _quarantine(describe_errors(error_map(exc)), info)
    return ParseResult(kind="lead", lead=lead, info=info)


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


# --- bounces -------------------------------------------------------------------------------

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


def _detect_bounce(message: Message, envelope_to: list[str]) -> BounceInfo | None:
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
    verp = _find_verp(message, envelope_to, deep=False)
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
        verp = _find_verp(message, envelope_to)

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


def _find_verp(
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


# --- auto-replies --------------------------------------------------------------------------

_AUTO_REPLY_SUBJECT = re.compile(
    r"\b(out of (the )?office|automatic reply|auto ?reply|auto ?response|autoresponder|"
    r"automatische antwort|abwesenheitsnotiz|abwesenheit|reponse automatique|"
    r"absence du bureau|absent du bureau|message d absence|automatyczna odpowiedz|"
    r"odpowiedz automatyczna|nieobecnosc|poza biurem|vacation reply|away from the office)\b"
)
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")


def _auto_reply_signal(message: Message) -> tuple[str | None, bool]:
    """(what marks the message as automatic, whether it is surely a reply rather than a
    machine-sent notification). X-Auto-Response-Suppress alone is no signal: it asks others
    not to answer, it does not say the message itself is automatic."""
    signals: list[tuple[str, bool]] = []
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    token = auto_submitted.split(";")[0].strip()
    if token and token != "no":
        signals.append((f"Auto-Submitted: {auto_submitted}", token == "auto-replied"))
    for name in _AUTO_REPLY_HEADERS:
        value = header(message, name).strip().lower()
        if name.lower() in (key.lower() for key in message.keys()) and value not in (
            "no",
            "false",
            "0",
        ):
            signals.append((f"{name}: {value}".strip(), True))
    if header(message, "X-Autogenerated").strip().lower() == "reply":
        signals.append(("X-Autogenerated: reply", True))
    precedence = header(message, "Precedence").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        signals.append((f"Precedence: {precedence}", True))
    elif precedence in ("bulk", "junk"):
        signals.append((f"Precedence: {precedence}", False))
    if _AUTO_REPLY_SUBJECT.search(normalise_words(header(message, "Subject"))):
        signals.append(("subject", True))
    if content_type(message) == "multipart/report":
        report_type = (param(message, "report-type") or "").lower()
        if report_type in ("disposition-notification", "feedback-report"):
            signals.append((f"report-type: {report_type}", True))
    if not signals:
        return None, False
    strong = [text for text, is_strong in signals if is_strong]
    if strong:
        return strong[0], True
    return signals[0][0], False


# --- reading rows --------------------------------------------------------------------------


@dataclass
class Field:
    key: str
    label: str  # as written
    value: str


@dataclass
class Collected:
    """What the ``Label: value`` lines or table rows of one body say."""

    fields: list[Field] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    intro: list[str] = field(default_factory=list)  # unlabelled lines before the first label
    subjects: list[str] = field(default_factory=list)  # "Subject:" lines of inline forwards
    votes: Counter = field(default_factory=Counter)
    tabs: bool = False

    def core_count(self) -> int:
        return len({f.key for f in self.fields if f.key in label_data.CUSTOMER_KEYS})

    def add_extra(self, label: str, value: Any, heading: str = "", qualify: bool = False) -> None:
        """Keep an unknown label's value under its label; a column heading (or, for a repeated
        label, the section heading) tells apart "Mit PV-Anlage" per month and per year."""
        if len(self.extra) >= MAX_EXTRA:
            return
        name = label or "?"
        if heading and (qualify or name in self.extra):
            name = f"{heading} / {label}"
        base, n = name, 2
        while name in self.extra and n <= MAX_EXTRA:
            name = f"{base} ({n})"
            n += 1
        self.extra[name] = value


_QUOTE = re.compile(r"^(\s*>)+ ?")
_LABEL_LINE = re.compile(r"^(?P<label>[^:：]{1,80}?)\s*[:：]\s*(?P<value>.*)$")
_SPACED_LINE = re.compile(r"^(?P<label>\S.{0,60}?)(?:\s{2,}|\s*\|\s*)(?P<value>\S.*)$")
_BULLET = re.compile(r"^[\s\-–—*•·▪>]+")
_SENTENCE_END = re.compile(r"[.!?,;]$")
_CONTINUED_KEYS = ("message", "street")
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")  # markup left in text bodies


def _clean_label(label: str) -> str:
    label = _BULLET.sub("", label).strip().strip("*_").strip()
    return label.rstrip(":：").strip()


def _split_label_line(line: str) -> tuple[str, str] | None:
    """(label, value) of a ``Label: value`` line, or None for prose (URLs, times, sentences)."""
    match = _LABEL_LINE.match(line)
    if not match:
        return None
    label = _clean_label(match.group("label"))
    value = match.group("value").strip()
    if not label or len(label) > 60 or len(label.split()) > 8:
        return None
    if not any(ch.isalpha() for ch in label) or "@" in label or "http" in label.lower():
        return None
    if label.count("(") != label.count(")") or value.startswith("//"):
        return None
    if label[-1].isdigit() and value[:1].isdigit():  # "ab 18:00"
        return None
    return label, value.strip("*_ ").strip()


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 6
        and line[0].isalpha()
        and not _SENTENCE_END.search(line)
        and not EMAIL_ADDRESS.search(line)
    )


_MARKDOWN_ROW = re.compile(r"^\s*\|.*\|\s*$")
_MARKDOWN_RULE = re.compile(r"^\s*\|[\s:|-]*-[\s:|-]*\|\s*$")


def _markdown_tables(lines: list[str]) -> list[str]:
    """``| Label | value |`` rows as tab rows; a table's heading row and rule are dropped."""
    out: list[str] = []
    for line in lines:
        if _MARKDOWN_RULE.match(line):
            if out and "\t" in out[-1]:
                out.pop()  # "| Field | Value |" above the rule heads the table
            continue
        if _MARKDOWN_ROW.match(line) and line.count("|") >= 3:
            line = "\t".join(cell.strip() for cell in line.strip()[1:-1].split("|"))
        out.append(line)
    return out


def collect(lines: list[str]) -> Collected:
    """Read ``Label: value`` lines and ``label<TAB>value`` rows (several pairs per row for
    multi-column tables, whose heading row names each column)."""
    out = Collected()
    heading = ""
    columns: list[str] | None = None
    pending: tuple[labels.Resolved, str] | None = None  # a label whose value is on the next line
    current: Field | None = None  # the field unlabelled lines continue
    seen_label = False

    def take(label: str, value: str, context: str, in_column: bool = False) -> None:
        nonlocal pending, current, seen_label, heading
        pending, current = None, None
        label = _clean_label(_TAG.sub("", label))
        value = value.strip()
        if not label:
            return
        resolved = labels.resolve(label, context)
        if resolved is None:
            if value:
                out.add_extra(label, value, context, qualify=in_column)
                seen_label = True
            elif not seen_label or _looks_like_heading(label):
                heading = label  # "Kosten pro Monat:" is a heading, not a field
            return
        seen_label = True
        if resolved.key == label_data.IGNORED:
            return
        if resolved.key == label_data.SUBJECT:
            if value:
                out.subjects.append(value)
            return
        for language in resolved.languages:
            out.votes[language] += 1 / len(resolved.languages)
        if not value:
            pending = (resolved, label)
            return
        current = Field(resolved.key, label, value)
        out.fields.append(current)

    # Lines are kept whole (a customer's message is often one long line): the body is bounded
    # by MAX_BODY_CHARS and every test on a line is linear.
    for line in _markdown_tables(lines[:MAX_LINES]):
        if line.lstrip().startswith(">"):
            line = _QUOTE.sub("", line)
        stripped = line.strip()
        if stripped == "--":
            break  # signature delimiter: what follows is the sender's, not the lead's
        if not stripped:
            pending, current, columns = None, None, None
            continue
        if "\t" in line:
            cells = [" ".join(cell.split()) for cell in line.split("\t")]
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) >= 2:
                out.tabs = True
                pairs = [
                    (cells[i], cells[i + 1] if i + 1 < len(cells) else "")
                    for i in range(0, len(cells), 2)
                ]
                if sum(1 for label, _ in pairs if label) >= 2 and not any(v for _, v in pairs):
                    columns = [label for label, _ in pairs]  # a heading row
                    continue
                for index, (label, value) in enumerate(pairs):
                    if label:
                        column = columns[index] if columns and index < len(columns) else ""
                        take(label, value, column or heading, in_column=bool(column))
                continue
            if cells:  # "Kommentar<TAB>": a label with an empty value
                take(cells[0], "", heading)
            continue
        pair = _split_label_line(stripped)
        if pair is None:
            spaced = _SPACED_LINE.match(stripped)
            if spaced and labels.resolve(_clean_label(spaced.group("label"))):
                pair = (spaced.group("label"), spaced.group("value"))
        if pair is not None:
            take(pair[0], pair[1], heading)
            continue
        # an unlabelled line
        shouting = stripped.isupper() and len(stripped) > 3
        if pending is not None and not shouting:
            resolved, label = pending
            current = Field(resolved.key, label, stripped)
            out.fields.append(current)
            pending = None
            continue
        if current is not None and current.key in _CONTINUED_KEYS and not shouting:
            joiner = "\n" if current.key == "message" else ", "
            current.value = f"{current.value}{joiner}{stripped}"
            continue
        if not seen_label and len(out.intro) < 10:
            out.intro.append(stripped)
        if _looks_like_heading(stripped):
            heading, columns = stripped, None
    return out


# --- inline forwards -----------------------------------------------------------------------

_FORWARD_MARKERS = {
    normalise_words(text)
    for text in (
        "Forwarded message",
        "Begin forwarded message",
        "Original message",
        "Forwarded e-mail",
        "Message transféré",
        "Message d'origine",
        "Message original",
        "Weitergeleitete Nachricht",
        "Ursprüngliche Nachricht",
        "Originalnachricht",
        "Wiadomość przekazana dalej",
        "Przekazana wiadomość",
        "Wiadomość oryginalna",
        "Oryginalna wiadomość",
    )
}
_FORWARD_HEADERS = {
    normalise_words(text): name
    for name, texts in {
        "from": ("From", "Von", "De", "Od", "Expéditeur", "Absender", "Nadawca"),
        "subject": ("Subject", "Betreff", "Objet", "Temat", "Sujet"),
        "other": (
            "To",
            "An",
            "À",
            "A",
            "Do",
            "Cc",
            "Bcc",
            "Date",
            "Datum",
            "Data",
            "Sent",
            "Gesendet",
            "Envoyé",
            "Envoyé le",
            "Wysłano",
            "Reply-To",
            "Antwort an",
            "Répondre à",
            "Destinataire",
            "Empfänger",
            "Adresat",
        ),
    }.items()
    for text in texts
}


@dataclass
class Segment:
    lines: list[str]
    subject: str | None = None
    sender: str | None = None
    forwarded: bool = False


def _is_forward_marker(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if len(line) > 100:
        return False
    if normalise_words(line) in _FORWARD_MARKERS:
        return True
    if re.fullmatch(r"_{10,}", line):  # Outlook: a rule, then From:/Von:/De:
        following = next((x for x in lines[index + 1 : index + 3] if x.strip()), "")
        pair = _split_label_line(following.strip())
        return bool(pair) and _FORWARD_HEADERS.get(normalise_words(pair[0])) == "from"
    return False


def split_forwarded(lines: list[str]) -> list[Segment]:
    """The text before any forward marker, then each forwarded message (its header block
    — From/Subject/Date/To in any of the four languages — read, not treated as lead fields)."""
    segments = [Segment([])]
    index = 0
    while index < len(lines):
        if not _is_forward_marker(lines, index):
            segments[-1].lines.append(lines[index])
            index += 1
            continue
        segment = Segment([], forwarded=True)
        index += 1
        while index < len(lines) and not lines[index].strip():
            index += 1
        while index < len(lines):
            pair = _split_label_line(_QUOTE.sub("", lines[index]).strip().strip("*"))
            kind = _FORWARD_HEADERS.get(normalise_words(pair[0])) if pair else None
            if kind is None:
                break
            if kind == "subject":
                segment.subject = pair[1]
            elif kind == "from":
                segment.sender = pair[1]
            index += 1
        segments.append(segment)
    return segments


# --- candidates ----------------------------------------------------------------------------


@dataclass
class _Context:
    """What the envelope of the message carrying the lead says: subjects and senders, the
    innermost first (a forwarded message's own headers apply before the forwarder's)."""

    subjects: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    forwarded: str | None = None

    @classmethod
    def of(cls, message: Message) -> _Context:
        return cls([header(message, "Subject")], [header(message, "From")])

    def inner(self, subject: str | None, sender: str | None, how: str) -> _Context:
        return _Context(
            [s for s in (subject,) if s] + self.subjects,
            [s for s in (sender,) if s] + self.senders,
            how,
        )


@dataclass
class _Candidate:
    rank: int  # json 3, forwarded message 2, body 1, text attachment 0
    core: int
    context: _Context
    layout: str
    notes: list[str]
    collected: Collected | None = None
    document: dict | None = None

    def build(self, default_country: str) -> tuple[dict, dict]:
        if self.document is not None and isinstance(self.document.get("customer"), dict):
            data, info = _build_from_document(self.document, self.context, default_country)
        else:
            data, info = _build_from_rows(
                self.collected or Collected(), self.context, default_country
            )
        info["layout"] = self.layout
        if self.context.forwarded:
            info["forwarded"] = self.context.forwarded
        if self.notes:
            info["charsets"] = self.notes
        return data, info


def _best_candidate(message: Message, context: _Context, depth: int) -> _Candidate | None:
    candidates: list[_Candidate] = []
    plain: list[str] = []
    html: list[str] = []
    attached: list[tuple[str, bool]] = []  # (text, is html)
    notes: list[str] = []
    for kind, part in leaves(message):
        if kind == "message":
            if depth < 5:
                inner = _best_candidate(
                    part,
                    context.inner(header(part, "Subject"), header(part, "From"), "message/rfc822"),
                    depth + 1,
                )
                if inner is not None:
                    candidates.append(replace(inner, rank=2))
            continue
        ctype = content_type(part)
        name = (filename(part) or "").lower()
        if ctype == "application/json" or ctype.endswith("+json") or name.endswith(".json"):
            text, _ = part_text(part)
            document = _load_json(text)
            if document is not None:
                candidates.append(_document_candidate(document, context))
            continue
        if not (ctype.startswith("text/") or ctype.startswith("multipart/")) or ctype in (
            "text/calendar",
            "text/csv",
            "text/rfc822-headers",
        ):
            continue
        text, note = part_text(part)
        if note:
            notes.append(note)
        is_html = ctype == "text/html" or looks_like_html(text)
        if is_attachment(part):
            attached.append((text, is_html))
        elif is_html:
            html.append(text)
        else:
            document = _load_json(text) if text.lstrip().startswith("{") else None
            if document is not None:
                candidates.append(_document_candidate(document, context))
            plain.append(text)
    bodies = [("text", "\n".join(plain), False, 1), ("html", "\n".join(html), True, 1)]
    bodies += [("attachment", text, is_html, 0) for text, is_html in attached[:5]]
    for layout, text, is_html, rank in bodies:
        text = text[:MAX_BODY_CHARS]
        lines = html_to_lines(text) if is_html else text.splitlines()
        if not lines:
            continue
        candidate = _rows_candidate(lines[:MAX_LINES], context, layout, rank, notes)
        if candidate is not None:
            candidates.append(candidate)
    candidates = [c for c in candidates if c.core > 0]
    if not candidates:
        return None
    # A plausible lead (three customer fields) beats a stray one (a signature's phone in an
    # attached message); then JSON > forwarded message > body, text before HTML on a tie
    # (max keeps the first of equals).
    return max(candidates, key=lambda c: (c.core >= PLAUSIBLE_CORE, c.rank, c.core))


def _rows_candidate(
    lines: list[str], context: _Context, layout: str, rank: int, notes: list[str]
) -> _Candidate | None:
    best: _Candidate | None = None
    for segment in split_forwarded(lines):
        collected = collect(segment.lines)
        if collected.core_count() == 0:
            continue
        segment_context = (
            context.inner(segment.subject, segment.sender, "inline")
            if segment.forwarded
            else context
        )
        name = f"{layout}_tabs" if collected.tabs and layout == "text" else layout
        candidate = _Candidate(
            rank, collected.core_count(), segment_context, name, notes, collected=collected
        )
        # the deepest forwarded message wins a tie: it is the original lead
        if best is None or candidate.core >= best.core:
            best = candidate
    return best


def _load_json(text: str) -> dict | None:
    try:
        document = json.loads(text.strip().lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and isinstance(document.get("lead"), dict):
        document = document["lead"]  # {"lead": {...}} envelopes
    return document if isinstance(document, dict) else None


def _document_candidate(document: dict, context: _Context) -> _Candidate:
    customer = document.get("customer")
    if isinstance(customer, dict):
        core = sum(
            1
            for key in customer
            if key in label_data.CUSTOMER_KEYS and customer[key] not in ("", None)
        )
        return _Candidate(3, max(core, 1), context, "json", [], document=document)
    # a flat document ({"name": …, "zip": …}): its keys are labels
    collected = collect([f"{label}\t{value}" for label, value in _flatten(document)])
    collected.votes.clear()  # field names of a document say nothing of the customer's language
    return _Candidate(3, collected.core_count(), context, "json", [], collected=collected)


def _flatten(document: dict, depth: int = 0) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if isinstance(value, dict) and depth < 3:
            rows.extend(_flatten(value, depth + 1))
        elif isinstance(value, list):
            rows.append((str(key), ", ".join(str(item) for item in value)))
        elif value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            rows.append((str(key).replace("_", " "), " ".join(text.split())))
    return rows


# --- building the lead ---------------------------------------------------------------------

_PV_DATA = ("roof_area_m2", "roof_pitch_deg", "roof_orientation_deg", "module", "module_count")
# languages that, with a five-digit postcode, name the country (German and French forms are
# also used in AT/CH/BE/LU, whose postcodes have four digits)
_LANGUAGE_COUNTRIES = {"de": "DE", "fr": "FR", "pl": "PL"}
_EMPTY_VALUES = {
    "n a",
    "na",
    "k a",
    "keine angabe",
    "nicht angegeben",
    "non renseigne",
    "brak danych",
    "null",
    "none",
    "undefined",
    "",
}


def _is_empty(value: str) -> bool:
    return normalise_words(value) in _EMPTY_VALUES and not any(ch.isdigit() for ch in value)


def _infer_country(
    phones: list[str], postcode: str | None, plate: str | None, language: str | None
) -> str | None:
    """Country from the phone's international prefix, an unambiguous postcode format, or the
    form's language with a matching postcode; None leaves the default."""
    for phone in phones:
        country = country_of_phone(phone)
        if country:
            return country
    if plate:
        return plate
    if postcode:
        country = country_of_postcode(postcode)
        if country:
            return country
        if language in _LANGUAGE_COUNTRIES and re.fullmatch(r"\d{5}", postcode):
            return _LANGUAGE_COUNTRIES[language]
    return None


def _usable_phone(phone: str, country: str) -> bool:
    try:
        normalise_phone(phone, country)
    except ValueError:
        return False
    return True


def _email_in(value: str) -> str:
    found = EMAIL_ADDRESS.search(value)
    return found.group() if found else value


def _build_from_rows(
    collected: Collected, context: _Context, default_country: str
) -> tuple[dict, dict]:
    extra = dict(collected.extra)
    holder = Collected(extra=extra)  # for add_extra's de-duplication
    by_key: dict[str, list[Field]] = {}
    for item in collected.fields:
        if _is_empty(item.value):
            continue
        by_key.setdefault(item.key, []).append(item)

    def first(key: str) -> str | None:
        items = by_key.get(key)
        if not items:
            return None
        for other in items[1:]:
            if other.value != items[0].value and key not in ("phone", "message"):
                holder.add_extra(other.label, other.value)
        return items[0].value

    def keep(key: str) -> None:
        for item in by_key.get(key, [])[:1]:
            holder.add_extra(item.label, item.value)

    customer: dict[str, Any] = {}
    name, given, family = first("name"), first(label_data.FIRST_NAME), first(label_data.LAST_NAME)
    surname = family or name
    if given and surname:
        customer["name"] = (
            surname if fold(surname).startswith(fold(given)) else f"{given} {surname}"
        )
    else:
        customer["name"] = name or given or family

    email_value = first("email")
    if email_value:
        customer["email"] = _email_in(email_value)

    addresses_given = [item.value for item in by_key.get("street", [])]
    street, postcode, city = first("street"), first("postcode"), first("city")
    number = first(label_data.HOUSE_NUMBER)
    if street and number:
        street = f"{street} {number}"
        addresses_given[0] = street
    elif number and not street:
        keep(label_data.HOUSE_NUMBER)
    for index, address in enumerate(addresses_given):
        # "Adresse: Quai de Valmy 167 75010 Paris": street, postcode and city in one line
        address_street, address_postcode, address_city = split_address(address)
        if index == 0:
            street = address_street
        postcode = postcode or address_postcode
        city = city or address_city
    combined = first(label_data.POSTCODE_CITY)
    if combined:
        pair_postcode, pair_city = split_postcode_city(combined)
        if pair_postcode or pair_city:
            postcode, city = postcode or pair_postcode, city or pair_city
        elif not postcode:
            postcode = combined
    if postcode:
        pair_postcode, pair_city = split_postcode_city(postcode)
        if pair_postcode:
            postcode, city = pair_postcode, city or pair_city
    if city and not postcode:
        pair_postcode, pair_city = split_postcode_city(city)
        if pair_postcode:
            postcode, city = pair_postcode, pair_city
    plate = None
    if postcode:
        postcode, plate = split_postcode_prefix(postcode)
        postcode = " ".join(postcode.split()).upper()
    customer.update(street=street, postcode=postcode, city=city)

    country = None
    country_value = first("country")
    if country_value:
        country = parse_country(country_value)
        if country is None:
            keep("country")
    language_value = first("language")
    language = parse_language(language_value) if language_value else None
    if language_value and language is None:
        keep("language")
    detected_language = labels.vote_language(collected.votes)
    language = language or detected_language

    phones = [item.value for item in by_key.get("phone", [])]
    country = country or _infer_country(phones, postcode, plate, detected_language)
    customer["country"] = country
    customer["language"] = language
    region = country or default_country
    usable = [phone for phone in phones if _usable_phone(phone, region)]
    chosen = usable[0] if usable else (phones[0] if phones and not customer.get("email") else None)
    if chosen:
        customer["phone"] = chosen
    for item in by_key.get("phone", []):
        if item.value != chosen:
            holder.add_extra(item.label, item.value)
    customer["reachability"] = first("reachability")

    data: dict[str, Any] = {"customer": {k: v for k, v in customer.items() if v}}
    messages = [item.value for item in by_key.get("message", [])]
    if messages:
        message = "\n".join(messages)
        if len(message) > MAX_MESSAGE_CHARS:  # cut, and visibly so
            message = message[: MAX_MESSAGE_CHARS - len(CUT_MARK)] + CUT_MARK
        data["message"] = message

    details: dict[str, Any] = {}
    for key in label_data.DETAIL_KEYS:
        value = first(key)
        if value is None:
            continue
        parsed: Any
        if key in label_data.NUMBER_DETAILS:
            parsed = (
                parse_orientation(value)
                if key == "roof_orientation_deg"
                else number_with_unit(key, value)
            )
            if (
                isinstance(parsed, float)
                and key in label_data.INTEGER_DETAILS
                and parsed.is_integer()
            ):
                parsed = int(parsed)
        elif key in label_data.BOOL_DETAILS:
            parsed = parse_bool(value)
        else:
            parsed = value
        if parsed is None:
            keep(key)
        else:
            details[key] = parsed

    product_value = first("product")
    product = parse_product(product_value) if product_value else None
    if product_value:
        if product is None:
            keep("product")
        elif product_mentions(product_value)[1] and product in (Product.PV, Product.PV_BATTERY):
            details.setdefault("heat_pump", True)  # "PV + Wärmepumpe"
    for key, parser in (
        ("building_type", parse_building_type),
        ("grid_connection", parse_grid_connection),
    ):
        value = first(key)
        parsed_enum = parser(value) if value else None
        if parsed_enum is not None:
            data[key] = parsed_enum.value
        elif value:
            keep(key)

    hints = [*context.senders, *context.subjects, *collected.intro[:5]]
    calculator = any(mentions_calculator(text) for text in hints if text)
    source_value = first("source")
    source = parse_source(source_value) if source_value else None
    if source_value and source is None:
        keep("source")
    data["source"] = (source or (Source.CALCULATOR if calculator else Source.EMAIL)).value
    if product is None and (calculator or any(key in details for key in _PV_DATA)):
        product = Product.PV
    if product is not None:
        data["product"] = product.value

    external_id = first("external_id")
    if not external_id:
        for text in [*collected.subjects, *context.subjects, *collected.intro[:5]]:
            external_id = find_external_id(text or "")
            if external_id:
                break
    if external_id:
        data["external_id"] = external_id[:255]

    if extra:
        details["extra"] = extra
    data["details"] = details
    info: dict[str, Any] = {}
    if detected_language:
        info["language"] = detected_language
    if collected.extra:
        info["unknown_labels"] = list(collected.extra)[:50]
    return data, info


_ENUM_PARSERS = {
    "product": (Product, parse_product),
    "building_type": (BuildingType, parse_building_type),
    "grid_connection": (GridConnection, parse_grid_connection),
    "source": (Source, parse_source),
}


def _build_from_document(
    document: dict, context: _Context, default_country: str
) -> tuple[dict, dict]:
    """A JSON part in the webhook's shape: taken as it is, with lenient enums and the same
    country, phone and id rules as the text layouts; unknown keys go to details.extra."""
    data: dict[str, Any] = {}
    details = document.get("details")
    details = dict(details) if isinstance(details, dict) else {}
    extra = details.get("extra") if isinstance(details.get("extra"), dict) else {}
    if "details" in document and not isinstance(document.get("details"), dict):
        extra["details"] = document["details"]
    for key, value in document.items():
        if key in ("customer", "details"):
            continue
        if key in LeadIn.model_fields:
            data[key] = value
        else:
            extra[key] = value
    for key, (enum, parser) in _ENUM_PARSERS.items():
        value = data.get(key)
        if value is None or not isinstance(value, str):
            continue
        try:
            data[key] = enum(value).value
        except ValueError:
            parsed = parser(value)
            if parsed is None:
                extra[key] = data.pop(key)
            else:
                data[key] = parsed.value

    customer: dict[str, Any] = {}
    for key, value in document["customer"].items():
        if key in CustomerIn.model_fields:
            customer[key] = (
                str(value) if isinstance(value, int | float) and key != "name" else value
            )
        else:
            extra[f"customer.{key}"] = value
    country = customer.get("country")
    if isinstance(country, str) and country.strip() and parse_country(country):
        customer["country"] = parse_country(country)
    if isinstance(customer.get("language"), str):
        customer["language"] = parse_language(customer["language"]) or customer["language"]
    phone = customer.get("phone")
    if not customer.get("country"):
        postcode = customer.get("postcode") if isinstance(customer.get("postcode"), str) else None
        phones = [phone] if isinstance(phone, str) else []
        inferred = _infer_country(phones, postcode, None, None)
        if inferred:
            customer["country"] = inferred
    region = customer.get("country") if isinstance(customer.get("country"), str) else None
    if (
        isinstance(phone, str)
        and phone.strip()
        and customer.get("email")
        and not _usable_phone(phone, region or default_country)
    ):
        extra["customer.phone"] = customer.pop("phone")
    data["customer"] = customer

    if not data.get("source"):
        hints = [*context.senders, *context.subjects]
        calculator = any(mentions_calculator(text) for text in hints if text)
        data["source"] = (Source.CALCULATOR if calculator else Source.EMAIL).value
    if not data.get("external_id"):
        for text in context.subjects:
            external_id = find_external_id(text or "")
            if external_id:
                data["external_id"] = external_id
                break
    if not data.get("product") and (
        data.get("source") == Source.CALCULATOR or any(key in details for key in _PV_DATA)
    ):
        data["product"] = Product.PV.value
    if extra:
        details["extra"] = extra
    data["details"] = details
    return data, {}
