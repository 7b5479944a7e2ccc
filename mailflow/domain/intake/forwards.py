"""Forwarded messages: inline forward markers and header blocks, and the envelope chain
(subjects, senders) of the message that carries a lead."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from mailflow.domain.intake.mime import header
from mailflow.domain.intake.rows import QUOTE, split_label_line
from mailflow.domain.intake.values import normalise_words

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
        pair = split_label_line(following.strip())
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
            pair = split_label_line(QUOTE.sub("", lines[index]).strip().strip("*"))
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


@dataclass
class Context:
    """What the envelope of the message carrying the lead says: subjects and senders, the
    innermost first (a forwarded message's own headers apply before the forwarder's)."""

    subjects: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    forwarded: str | None = None

    @classmethod
    def of(cls, message: Message) -> Context:
        return cls([header(message, "Subject")], [header(message, "From")])

    def inner(self, subject: str | None, sender: str | None, how: str) -> Context:
        return Context(
            [s for s in (subject,) if s] + self.subjects,
            [s for s in (sender,) if s] + self.senders,
            how,
        )
