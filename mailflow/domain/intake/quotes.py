"""Replies: what a reply quotes is somebody else's text, never the sender's lead fields.

A message is a reply when it carries ``In-Reply-To`` or ``References`` (RFC 5322 §3.6.4). Its
reply view drops, in each text body (attachments and attached messages stay as they are):
- quoted lines (``> …``);
- everything from an attribution line on ("On … wrote:", "Am … schrieb …:", "Le … a écrit :",
  "W dniu … pisze:", in any of the four languages, also when the mailer wrapped it over two
  lines);
- for a reply (``Re:``/``AW:``/``SV:`` … subject, not ``Fwd:``), everything from the first
  separator that introduces the original message ("-----Original Message-----", Outlook's
  rule followed by ``From:``/``Von:``/``De :``): Outlook quotes the offer this way, unprefixed;
- in HTML, ``<blockquote>`` elements and Gmail's/Outlook's quote containers.
A forward (``Fwd:``/``WG:``/``TR:`` … subject) is left whole: its forwarded message is the lead.

Headers are evidence, not proof (anyone can write them): the reply view only decides what
this module's caller reads as lead fields; whether the message answers one of *our* messages
is decided with the outbox (``mailflow.intake.process``).
"""

from __future__ import annotations

import copy
import re
from email.message import Message

from mailflow.domain.intake.forwards import split_forwarded
from mailflow.domain.intake.mime import content_type, header, is_attachment, leaves, part_text
from mailflow.domain.intake.rows import split_label_line
from mailflow.domain.intake.values import normalise_words

_MSGID = re.compile(r"<[^<>\s]+>")
# Attribution lines, folded by normalise_words (accents and punctuation gone). Each needs its
# verb at the end, so "Am Montag schrieb ich Ihnen" in a sentence is no cut.
_ATTRIBUTION = re.compile(
    r"^(?:on .{3,300} wrote"  # On Mon, 1 Dec 2026 at 10:00, Mailflow <leads@x> wrote:
    r"|am .{3,300} schrieb.{0,200}"  # Am 01.12.2026 um 10:00 schrieb Mailflow <leads@x>:
    r"|le .{3,300} a ecrit"  # Le lun. 1 déc. 2026 à 10:00, Mailflow <leads@x> a écrit :
    r"|w dniu .{3,300} pisze"  # W dniu 1.12.2026 o 10:00 Mailflow <leads@x> pisze:
    r"|.{3,200} wrote|.{3,200} a ecrit"  # "Mailflow <leads@x> wrote:" (Thunderbird, short)
    r")$"
)
_SUBJECT_PREFIX = re.compile(r"^\s*\[?([A-Za-z]{1,8})\s*(?:\[\d+\])?\s*:", re.ASCII)
REPLY_PREFIXES = {"re", "aw", "sv", "vs", "odp", "antw", "ref", "rif", "r"}
FORWARD_PREFIXES = {"fwd", "fw", "wg", "tr", "pd", "rv", "enc", "doorst", "vl"}
_HTML_QUOTES = (
    re.compile(r"<blockquote\b[^>]*>(?:(?!<blockquote\b).)*?</blockquote\s*>", re.I | re.S),
    # Outlook on the web: the original message after a div with this id
    re.compile(r"<div\b[^>]*\bid=[\"']?(?:divRplyFwdMsg|appendonsend)\b.*", re.I | re.S),
    # Gmail: the attribution and the quote in one container
    re.compile(r"<div\b[^>]*\bclass=[\"']?gmail_quote\b.*", re.I | re.S),
    # Outlook (desktop): the original message's header block sits under a rule of this style
    re.compile(r"<div\b[^>]*border-top:\s*solid\s*#E1E1E1.*", re.I | re.S),
    # "-----Original Message-----" and its translations
    re.compile(
        r"-{3,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|"
        r"Oryginalna wiadomość|Wiadomość oryginalna)\s*-{3,}.*",
        re.I | re.S,
    ),
)
_MAX_HTML_PASSES = 20  # nested blockquotes: the innermost goes first, then its parent


def referenced_ids(message: Message) -> list[str]:
    """The Message-IDs ``In-Reply-To`` and ``References`` name (In-Reply-To first), in angle
    brackets, as the outbox stores them."""
    found: list[str] = []
    for name in ("In-Reply-To", "References"):
        for value in _MSGID.findall(header(message, name)):
            if value not in found and len(value) <= 255:
                found.append(value)
    return found[:50]


def is_reply(message: Message) -> bool:
    return bool(referenced_ids(message))


def subject_kind(subject: str) -> str | None:
    """ "reply", "forward" or None, from the outermost subject prefix."""
    match = _SUBJECT_PREFIX.match(subject or "")
    if not match:
        return None
    prefix = match.group(1).lower()
    if prefix in REPLY_PREFIXES:
        return "reply"
    if prefix in FORWARD_PREFIXES:
        return "forward"
    return None


def _is_attribution(line: str, following: str) -> int:
    """How many lines an attribution takes here (0: none, 1, or 2 when the mailer wrapped it)."""
    stripped = line.strip()
    if not stripped or len(stripped) > 400 or stripped.startswith(">"):
        return 0
    pair = split_label_line(stripped)
    if pair is not None and pair[1].strip(" :"):
        return 0  # a field ("Message: the customer wrote:"); attributions split as no field
    if stripped.endswith(":") and _ATTRIBUTION.match(normalise_words(stripped)):
        return 1
    joined = f"{stripped} {following.strip()}"
    if (
        following.strip().endswith(":")
        and len(joined) <= 400
        and _ATTRIBUTION.match(normalise_words(joined))
        and normalise_words(stripped).split(" ", 1)[0] in ("on", "am", "le", "w")
    ):
        return 2
    return 0


def strip_quoted_text(text: str, kind: str | None) -> str:
    """The text the sender wrote themselves (see the module's description)."""
    if kind == "forward":
        return text
    lines = text.split("\n")
    if kind == "reply":
        segments = split_forwarded(lines)
        if len(segments) > 1:  # "-----Original Message-----", Outlook's rule + From:
            lines = lines[: len(segments[0].lines)]
    kept: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_attribution(line, following):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept)


def strip_quoted_html(html: str) -> str:
    for _ in range(_MAX_HTML_PASSES):
        changed = html
        for pattern in _HTML_QUOTES:
            changed = pattern.sub("", changed)
        if changed == html:
            break
        html = changed
    return html


def reply_view(message: Message) -> Message | None:
    """A copy of a reply with its quoted text removed, or None when the message is no reply
    (or quotes nothing)."""
    if not is_reply(message):
        return None
    kind = subject_kind(header(message, "Subject"))
    view = copy.deepcopy(message)
    changed = False
    for part_kind, part in leaves(view):
        if part_kind != "part" or is_attachment(part):
            continue
        ctype = content_type(part)
        if ctype not in ("text/plain", "text/html"):
            continue
        text, _ = part_text(part)
        if ctype == "text/html":
            stripped = strip_quoted_html(text) if kind != "forward" else text
        else:
            stripped = strip_quoted_text(text, kind)
        if stripped != text:
            del part["Content-Transfer-Encoding"]
            part.set_payload(stripped, "utf-8")
            changed = True
    return view if changed else None
