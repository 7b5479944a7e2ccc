"""Bulk mail (newsletters, mailing lists) is not a lead unless it clearly is one.

Bulk mail shows itself by ``List-Id`` / ``List-Unsubscribe`` (RFC 2919, 2369),
``Precedence: bulk|list|junk``, or a newsletter footer ("unsubscribe", "abmelden",
"se désabonner" …). Its imprint often has ``Name:``/``Address:``/``Phone:`` lines, which the
parser would read as a customer; lead platforms, on the other hand, send their notifications
with the same headers (``Precedence: bulk``, ``Auto-Submitted``). What tells them apart is
where the fields are and what the message is about:

- a JSON part with the webhook's schema is a lead (machines write it on purpose);
- the customer's name and contact lines must come before any footer (imprint, unsubscribe
  notice, ``--`` signature): a lead platform puts the lead on top, a newsletter its imprint
  at the bottom;
- the lead must say something about a project (a product, a detail, a message, an id): an
  imprint or a signature block has only a name, an address, a phone and an email;
- and the structured block must be the main content: little text before it (a heading or a
  sentence, as lead notifications have), or most of the message's lines are ``Label: value``
  rows.

The phrases are data: one tuple per language, matched on folded words.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from mailflow.domain.intake.labels import resolve
from mailflow.domain.intake.mime import (
    content_type,
    header,
    html_to_lines,
    is_attachment,
    leaves,
    looks_like_html,
    part_text,
)
from mailflow.domain.intake.rows import split_label_line
from mailflow.domain.intake.schema import LeadIn
from mailflow.domain.intake.values import normalise_words

NOT_A_LEAD = "bulk mail, not a lead"

# What begins a newsletter's footer. Headings stand alone on their line ("Impressum",
# "Mentions légales:"); phrases are whole words anywhere in a short line that is not a form's
# "Label: value" row (a web form's "Datenschutz: akzeptiert" is no footer).
FOOTER_HEADINGS: dict[str, tuple[str, ...]] = {
    "en": ("imprint", "legal notice", "legal information", "company information"),
    "de": ("impressum", "rechtliche hinweise", "pflichtangaben"),
    "fr": ("mentions legales", "informations legales"),
    "pl": ("nota prawna", "dane firmy", "informacje prawne"),
}
FOOTER_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "unsubscribe",
        "you are receiving this",
        "you received this email because",
        "you have received this email because",
        "manage your preferences",
        "update your preferences",
        "manage your subscription",
        "to stop receiving",
    ),
    "de": (
        "abmelden",
        "abbestellen",
        "newsletter abbestellen",
        "vom newsletter abmelden",
        "sie erhalten diese e mail",
        "sie erhalten diesen newsletter",
    ),
    "fr": (
        "se desinscrire",
        "se desabonner",
        "desabonnement",
        "desinscription",
        "vous recevez cet e mail",
        "vous recevez ce message",
        "vous recevez cette lettre",
    ),
    "pl": (
        "wypisz sie",
        "rezygnacja z subskrypcji",
        "rezygnacja z newslettera",
        "otrzymujesz ten e mail",
        "otrzymujesz te wiadomosc",
    ),
}
_HEADINGS = {phrase for phrases in FOOTER_HEADINGS.values() for phrase in phrases}
_FOOTER = tuple(phrase for phrases in FOOTER_PHRASES.values() for phrase in phrases)
MAX_FOOTER_LINE = 200  # a footer line is short; a sentence of prose mentioning "imprint" is not
MAX_INTRO_LINES = 6  # non-empty lines before the lead block in a lead notification
MIN_LABEL_SHARE = 0.5  # else: Label: value rows make at least half the message's lines
MAX_LINES = 2000  # lines of a body judged (the lead block and its context are on top)
MAX_CHARS = 500_000
HEAD_CHARS, TAIL_CHARS = 20_000, 30_000  # what the footer search reads of a long body


@dataclass(frozen=True)
class Verdict:
    clearly_a_lead: bool
    why: str


def header_signal(message: Message) -> str | None:
    """What in the headers marks the message as bulk or list mail, or None."""
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        value = header(message, name).strip()
        if value:
            return f"{name}: {value[:120]}"
    precedence = header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    return None


def _clip(text: str, ends: bool) -> str:
    if ends and len(text) > HEAD_CHARS + TAIL_CHARS:
        return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    return text[:MAX_CHARS]


def body_lines(message: Message, *, ends: bool = False) -> list[str]:
    """The body as lines: the text parts, else the HTML parts (attachments and attached
    messages left out). ``ends``: only the head and the tail of a long body, where
    newsletters put their "unsubscribe" lines (every message is looked at, so cheaply)."""
    plain: list[str] = []
    html: list[str] = []
    for kind, part in leaves(message):
        if kind != "part" or is_attachment(part):
            continue
        ctype = content_type(part)
        if ctype not in ("text/plain", "text/html"):
            continue
        text, _ = part_text(part)
        if ctype == "text/html" or looks_like_html(text):
            html.extend(html_to_lines(_clip(text, ends)))
        else:
            plain.extend(_clip(text, ends).split("\n"))
    lines = plain if any(line.strip() for line in plain) else html
    return lines if ends else lines[:MAX_LINES]


def is_footer_line(line: str) -> bool:
    stripped = line.strip()
    if stripped in ("--", "-- "):
        return True
    if not stripped or len(stripped) > MAX_FOOTER_LINE:
        return False
    words = normalise_words(stripped)
    if words in _HEADINGS:
        return True
    pair = split_label_line(stripped)
    if pair is not None and pair[1] and not pair[1].lower().startswith(("http", "<http", "www")):
        return False  # a form's row; "Unsubscribe: https://…" still counts
    return any(f" {phrase} " in f" {words} " for phrase in _FOOTER)


def footer_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if is_footer_line(line):
            return index
    return None


def footer_signal(message: Message) -> str | None:
    """A newsletter footer in the body ("unsubscribe" and its kin), or None. The ``--``
    signature alone is no sign of bulk mail."""
    for line in body_lines(message, ends=True):
        if line.strip() not in ("--", "-- ") and is_footer_line(line):
            return f"footer: {line.strip()[:80]}"
    return None


def bulk_signal(message: Message) -> str | None:
    return header_signal(message) or footer_signal(message)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _contact_lines(lines: list[str], lead: LeadIn) -> list[int]:
    """Indexes of the lines holding the customer's name, email or phone as fields (else
    anywhere)."""
    customer = lead.customer
    needles = [n.lower() for n in (customer.name, customer.email) if n and len(n.strip()) >= 3]
    phone_tail = _digits(customer.phone or "")[-6:]
    found, in_rows = [], []
    for index, line in enumerate(lines):
        low = line.lower()
        if any(n in low for n in needles) or (len(phone_tail) == 6 and phone_tail in _digits(line)):
            found.append(index)
            # a field's row, or the value under a "Label:" line: where the parser read it
            previous = next((x for x in reversed(lines[:index]) if x.strip()), "")
            if _is_field(line) or (previous.strip().endswith((":", "：")) and _is_field(previous)):
                in_rows.append(index)
    # a newsletter names its publisher on top and again in its imprint: the rows count
    return in_rows or found


def _is_field(line: str) -> bool:
    """A ``Label: value`` line or table row whose label names a lead field."""
    stripped = line.strip()
    if "\t" in stripped:
        label = stripped.split("\t", 1)[0]
    else:
        pair = split_label_line(stripped)
        if pair is None:
            return False
        label = pair[0]
    return resolve(label) is not None


def _is_row(line: str) -> bool:
    return "\t" in line.strip() or split_label_line(line.strip()) is not None


def project_evidence(lead: LeadIn) -> bool:
    """What a lead has and an imprint has not: a product, a building or grid type, a project
    detail (unknown labels under ``extra`` do not count), a message, or an external id."""
    details = {k: v for k, v in (lead.details or {}).items() if k != "extra" and v is not None}
    return bool(
        lead.product
        or lead.building_type
        or lead.grid_connection
        or lead.external_id
        or lead.message
        or details
    )


def judge(message: Message, lead: LeadIn, layout: str) -> Verdict:
    """Whether a lead found in bulk mail is clearly a lead (see the module's description)."""
    if layout == "json":
        return Verdict(True, "a JSON lead part")
    lines = body_lines(message)
    footer = footer_start(lines)
    contact = _contact_lines(lines, lead)
    main = lines if footer is None else lines[:footer]
    if contact and footer is not None and min(contact) >= footer:
        return Verdict(False, "the customer fields are in the footer (imprint, unsubscribe)")
    if not project_evidence(lead):
        # a company's imprint or signature block has a name, an address and a phone, never a
        # product, a project detail, a request or an id
        return Verdict(False, "only contact details, nothing about a project")
    first = min(contact) if contact else None
    content = [line for line in main if line.strip()]
    if first is not None:
        intro = [line for line in lines[:first] if line.strip() and not _is_row(line)]
        if len(intro) <= MAX_INTRO_LINES:
            return Verdict(True, "the lead block opens the message")
    rows = sum(1 for line in content if _is_row(line))
    if content and rows / len(content) >= MIN_LABEL_SHARE:
        return Verdict(True, "the lead block is the message's main content")
    return Verdict(False, "the lead fields are not the message's main content")
