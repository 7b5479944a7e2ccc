"""A message as an admin reads it: headers decoded (RFC 2047), each text part decoded from its
transfer encoding and charset, HTML parts as plain text (never markup), attachments listed by
name, type and size.

Pure and defensive: any bytes give a :class:`Readable` (never an exception) of bounded size;
the parsing is :mod:`mailflow.domain.intake.mime`'s (the stdlib ``email`` package with
``policy.default``, with its repairs and charset fallbacks: a declared charset that is wrong
or unknown falls back to UTF-8, then Windows-1252).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from mailflow.domain.intake import mime

HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date")
MAX_HEADER_CHARS = 1000  # per header value
MAX_PARTS = 50  # text parts shown
MAX_ATTACHMENTS = 100
MAX_TEXT_CHARS = 50_000  # per part
MAX_TOTAL_CHARS = 200_000  # all parts together
MAX_NAME_CHARS = 200
MAX_DEPTH = 5  # forwarded messages followed


@dataclass(frozen=True)
class Part:
    content_type: str
    charset: str | None  # as declared
    text: str
    note: str | None = None  # e.g. the declared charset was not usable
    truncated: bool = False
    depth: int = 0  # 1 and more: inside a forwarded message


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int  # decoded bytes


@dataclass
class Readable:
    headers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left_out: int = 0  # parts or attachments beyond the limits


def _headers(message: Message) -> list[tuple[str, str]]:
    found = []
    for name in HEADERS:
        for value in mime.header_all(message, name)[:5]:
            found.append((name, value[:MAX_HEADER_CHARS]))
    return found


def read(raw: bytes) -> Readable:
    """The readable view of ``raw`` (see the module's docstring)."""
    result = Readable()
    try:
        message, notes = mime.parse_bytes(raw)
    except mime.MessageTooComplex as exc:
        result.notes.append(str(exc))
        return result
    except Exception as exc:  # the stdlib parser is lenient; anything else is noted
        result.notes.append(f"not readable as a message: {type(exc).__name__}")
        return result
    result.notes.extend(notes)
    try:
        result.headers = _headers(message)
        _walk(message, result, 0, [0])
    except RecursionError:
        result.notes.append("nested too deeply: the rest is not shown")
    return result


def _walk(message: Message, result: Readable, depth: int, used: list[int]) -> None:
    for kind, part in mime.leaves(message):
        if kind == "message":
            if depth >= MAX_DEPTH:
                result.left_out += 1
                continue
            heads = "\n".join(f"{name}: {value}" for name, value in _headers(part))
            _add_text(result, Part("message/rfc822", None, heads, depth=depth + 1), used)
            _walk(part, result, depth + 1, used)
            continue
        ctype = mime.content_type(part)
        if mime.is_attachment(part) or not ctype.startswith("text/"):
            if len(result.attachments) >= MAX_ATTACHMENTS:
                result.left_out += 1
                continue
            name = (mime.filename(part) or "")[:MAX_NAME_CHARS]
            size = len(mime.payload_bytes(part))
            result.attachments.append(Attachment(name, ctype[:MAX_NAME_CHARS], size))
            continue
        text, note = mime.part_text(part)
        if ctype == "text/html" or (ctype == "text/plain" and mime.looks_like_html(text)):
            text = "\n".join(mime.html_to_lines(text[: MAX_TEXT_CHARS * 4]))
            note = note or ("HTML shown as text" if ctype == "text/html" else None)
        charset = mime.param(part, "charset")
        _add_text(
            result,
            Part(ctype[:MAX_NAME_CHARS], (charset or "")[:60] or None, text, note, depth=depth),
            used,
        )


def _add_text(result: Readable, part: Part, used: list[int]) -> None:
    if len(result.parts) >= MAX_PARTS or used[0] >= MAX_TOTAL_CHARS:
        result.left_out += 1
        return
    room = min(MAX_TEXT_CHARS, MAX_TOTAL_CHARS - used[0])
    text = part.text.strip("\n")
    truncated = len(text) > room
    text = text[:room]
    used[0] += len(text)
    result.parts.append(
        Part(part.content_type, part.charset, text, part.note, truncated, part.depth)
    )
