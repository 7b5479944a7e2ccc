"""Answering an offer by email, the pure part: the words that accept or decline (English, French,
German, Polish), the offer token of a ``reply+<token>@`` address, the first word the installer
wrote, and the recipient addresses of a reply."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.utils import getaddresses

from mailflow.domain.intake import mime
from mailflow.domain.intake.headers import headers_of

ACCEPT_WORDS = {
    "accept",
    "accepted",
    "yes",
    "accepter",
    "accepte",
    "oui",
    "annehmen",
    "annahme",
    "ja",
    "akzeptieren",
    "akceptuje",
    "akceptuj",
    "przyjmuje",
    "tak",
}
DECLINE_WORDS = {
    "decline",
    "declined",
    "no",
    "refuser",
    "refuse",
    "non",
    "ablehnen",
    "abgelehnt",
    "nein",
    "odrzucam",
    "odrzuc",
    "nie",
}
_REPLY_LOCAL = re.compile(r"^reply\+([A-Za-z0-9_\-.]+)$")


@dataclass(frozen=True)
class ReplyOutcome:
    handled: bool
    reason: str


def reply_token(addresses: list[str]) -> str | None:
    for address in addresses:
        local = address.strip("<> ").rpartition("@")[0]
        match = _REPLY_LOCAL.match(local)
        if match:
            return match.group(1)
    return None


def _plain(word: str) -> str:
    folded = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in folded if c.isalpha())


def first_word(raw: bytes) -> str | None:
    """The first word the installer wrote: quoted lines and empty lines are skipped."""
    message, _ = mime.parse_bytes(raw)
    for _kind, part in mime.leaves(message):
        if mime.content_type(part) != "text/plain" or mime.is_attachment(part):
            continue
        text, _ = mime.part_text(part)
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(">"):
                continue
            word = _plain(line.split()[0])
            return word or None
    return None


def reply_addresses(raw: bytes, envelope_to: list[str] | None) -> list[str]:
    """Recipient addresses from the envelope and the headers (only the header block is read:
    this runs for every inbound message, however large)."""
    headers = headers_of(raw)
    values = [
        str(v)
        for name in ("To", "Cc", "Delivered-To", "X-Original-To")
        for v in (headers.get_all(name) or [])
    ]
    return list(envelope_to or []) + [addr for _, addr in getaddresses(values) if addr]
