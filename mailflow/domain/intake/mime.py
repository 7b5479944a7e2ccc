"""Defensive reading of MIME messages: headers, parts, charsets and HTML bodies.

Real mail is often broken (missing boundaries, unknown or wrong charsets, 8-bit headers, NUL
bytes). Every function here degrades instead of raising: the worst case is an empty string.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import email.utils
import re
from collections import Counter
from collections.abc import Iterator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from html.parser import HTMLParser

MAX_DEPTH = 20  # nested multiparts / forwarded messages followed
# Parsing costs about half a millisecond per MIME part: 100,000 parts would hold a worker for
# minutes. Real mail has a handful; a message that may have more is refused before parsing.
MAX_PARTS = 1000
_DELIMITER_LINE = re.compile(rb"^--", re.MULTILINE)


class MessageTooComplex(ValueError):
    """The message has more MIME parts than any lead, bounce or reply needs (the message says
    how many): quarantined unparsed."""


def check_complexity(raw: bytes) -> None:
    """Refuse a message that may hold more than ``MAX_PARTS`` parts. Every part starts with a
    line beginning with ``--`` (its boundary), so counting those lines bounds the parts (nested
    multiparts included) in one quick pass over the bytes."""
    count = 0
    for _ in _DELIMITER_LINE.finditer(raw):
        count += 1
        if count > 2 * MAX_PARTS + 2:  # a delimiter per part, plus closing ones
            raise MessageTooComplex(
                f"message too complex: more than {MAX_PARTS} MIME parts (lines starting "
                "with --), not parsed"
            )


class _ParsedOnce(HeaderRegistry):
    """``policy.default``'s header classes, each header of one message parsed once: the stdlib
    parses a header again at every read (``get``, ``get_all``, ``get_content_type``,
    ``get_param``…), and reading a lead asks for the same few headers dozens of times. Header
    objects are immutable, so one message's parts share them safely. One registry per message
    (the cache goes with it), so what a hostile sender puts in headers is held no longer than
    the message itself."""

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = super().__call__(name, value)
        return found


def message_from_bytes(raw: bytes) -> Message:
    """``email.message_from_bytes`` for untrusted input: refuses overly complex messages."""
    check_complexity(raw)
    policy = email.policy.default.clone(header_factory=_ParsedOnce())
    return email.message_from_bytes(raw, policy=policy)


# --- parsing -------------------------------------------------------------------------------


def parse_bytes(raw: bytes) -> tuple[Message, list[str]]:
    """The message, plus notes on repairs made (a multipart without boundary is re-split on the
    boundary its body actually uses). Raises :class:`MessageTooComplex`."""
    message = message_from_bytes(raw)
    notes: list[str] = []
    if content_type(message).startswith("multipart/") and not isinstance(payload(message), list):
        boundary = _guess_boundary(payload(message))
        if boundary:
            repaired = message_from_bytes(_with_boundary(raw, content_type(message), boundary))
            if isinstance(payload(repaired), list):
                notes.append("multipart without boundary: boundary guessed from the body")
                return repaired, notes
        notes.append("multipart without boundary: read as text")
    return message, notes


_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200}?)(--)?[ \t]*$")
_HEADER_LINE = re.compile(r"^[A-Za-z][\w-]*:")


def _guess_boundary(payload: object) -> str | None:
    if not isinstance(payload, str):
        return None
    lines = payload.splitlines()
    found: Counter[str] = Counter()
    for i, line in enumerate(lines[:-1]):
        match = _BOUNDARY_LINE.match(line)
        if match and _HEADER_LINE.match(lines[i + 1]):
            found[match.group(1)] += 1
    return found.most_common(1)[0][0] if found else None


def _with_boundary(raw: bytes, ctype: str, boundary: str) -> bytes:
    """``raw`` with its Content-Type header replaced by one that names ``boundary``."""
    cuts = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    end = min(cuts) if cuts else len(raw)
    head, body = raw[:end], raw[end:]
    newline = b"\r\n" if b"\r\n" in head else b"\n"
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"content-type:")
        if not skipping:
            kept.append(line)
    header = f'Content-Type: {ctype}; boundary="{boundary}"'.encode("ascii", "replace")
    return newline.join([*kept, header]) + body


def payload(part: Message) -> object:
    """``part.get_payload()``, or None when the stdlib trips over it (a NUL in the charset…)."""
    try:
        return part.get_payload()
    except Exception:
        return None


# --- headers -------------------------------------------------------------------------------


def _repair(text: str) -> str:
    """Undo the parser's surrogate escapes of raw 8-bit header bytes (UTF-8, else cp1252)."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    for charset in ("utf-8", "cp1252"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words, tolerating unknown charsets."""
    parts = []
    for chunk, charset in email.header.decode_header(value):
        if isinstance(chunk, str):
            parts.append(chunk)
        else:
            parts.append(decode_bytes(chunk, charset)[0])
    return "".join(parts)


def header(message: Message, name: str) -> str:
    """The first ``name`` header as text ('' when absent or unreadable)."""
    values = header_all(message, name)
    return values[0] if values else ""


def header_all(message: Message, name: str) -> list[str]:
    """All ``name`` headers as unfolded text."""
    try:
        values = [str(value) for value in (message.get_all(name) or [])]
    except Exception:
        values = []
        try:
            for key, raw_value in message.raw_items():
                if key.lower() == name.lower():
                    try:
                        values.append(_decode_words(str(raw_value)))
                    except Exception:
                        values.append(str(raw_value))
        except Exception:
            return []
    return [clean_text(" ".join(_repair(value).split())) for value in values]


def addresses(message: Message, name: str) -> list[str]:
    """Lower-cased e-mail addresses in the ``name`` headers."""
    found = []
    for value in header_all(message, name):
        found.extend(address.lower() for address in EMAIL_ADDRESS.findall(value))
    return found


# bounded parts: an unbounded local part makes findall quadratic on long runs of letters
EMAIL_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


# --- parts ---------------------------------------------------------------------------------


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def param(part: Message, name: str, header_name: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header_name)
    except Exception:
        return None
    if value is None:
        return None
    try:
        value = email.utils.collapse_rfc2231_value(value)
    except Exception:
        value = str(value)
    return clean_text(_repair(str(value))).strip() or None


def filename(part: Message) -> str | None:
    return param(part, "filename", "content-disposition") or param(part, "name")


def is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    return disposition == "attachment" or (disposition != "inline" and bool(filename(part)))


def payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (quoted-printable, base64 … undone)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    content = payload(part)
    if isinstance(content, str):
        return content.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Message) -> tuple[str, str | None]:
    """The text of a leaf part and, when its declared charset was not used, a note saying so."""
    declared = param(part, "charset")
    text, used = decode_bytes(payload_bytes(part), declared)
    note = None
    if declared and used != _codec_name(declared):
        note = f"charset {declared!r} not usable, decoded as {used}"
    return clean_text(text), note


# Charsets that mailers declare for what is really Windows-1252 (WHATWG does the same).
_CP1252_ALIASES = {"iso8859-1", "latin-1", "ascii", "cp1252"}
_MULTIBYTE = re.compile(r"^(utf|gb|big5|shift|euc|iso2022|cp9[345]|hz|johab|ks)")


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip("\"'")).name
    except (LookupError, ValueError, TypeError):
        return None
    return "cp1252" if name in _CP1252_ALIASES else name


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str]:
    """Text of ``data``: the declared charset, then UTF-8, then Windows-1252 (and Latin-1, which
    never fails). Valid non-ASCII UTF-8 wins over a declared single-byte charset: a mislabel is
    far likelier than Latin text that happens to be valid UTF-8."""
    codec = _codec_name(declared)
    order: list[str] = []
    if codec and not _MULTIBYTE.match(codec) and not data.isascii():
        try:
            data.decode("utf-8")
            order.append("utf-8")
        except UnicodeDecodeError:
            pass
    for name in (codec, "utf-8", "cp1252"):
        if name and name not in order:
            order.append(name)
    for name in order:
        try:
            return data.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1"), "latin-1"


def leaves(message: Message, depth: int = 0) -> Iterator[tuple[str, Message]]:
    """The parts of ``message`` in order: ("part", leaf) or ("message", forwarded message). Does
    not descend into forwarded messages: the caller decides what to do with them."""
    if depth > MAX_DEPTH:
        return
    ctype = content_type(message)
    if depth > 0 and (ctype in ("message/rfc822", "message/global") or _is_eml(message)):
        inner = inner_message(message)
        if inner is not None:
            yield "message", inner
        return
    content = payload(message)
    if isinstance(content, list) and ctype not in DELIVERY_STATUS_TYPES:
        for sub in content:
            if isinstance(sub, Message):
                yield from leaves(sub, depth + 1)
    else:
        yield "part", message


DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


def _is_eml(part: Message) -> bool:
    name = (filename(part) or "").lower()
    return name.endswith(".eml") and content_type(part) in (
        "application/octet-stream",
        "message/rfc822",
        "application/eml",
        "text/plain",
    )


def inner_message(part: Message) -> Message | None:
    """The message carried by a message/rfc822 part (also when it is encoded, or an .eml)."""
    content = payload(part)
    if isinstance(content, list) and content and isinstance(content[0], Message):
        return content[0]
    data = payload_bytes(part)
    if not data.strip():
        return None
    try:
        return message_from_bytes(data)
    except Exception:  # also MessageTooComplex: a forwarded message not worth reading
        return None


# --- text ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff\ufffe\uffff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text without NULs, control characters, zero-width marks or lone surrogates (nothing a
    database or JSON encoder chokes on), with Unix newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATES.sub("\ufffd", text)
    return _CONTROL.sub("", text)


_LOOKS_HTML = re.compile(r"<(?:td|tr|br|p|div|table|html|body)\b[^>]*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    return len(_LOOKS_HTML.findall(text[:20000])) >= 2


_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "address",
    "center",
    "caption",
}
_SKIPPED_TAGS = {"script", "style", "head", "title", "template", "noscript"}
_CELL_TAGS = {"td", "th", "dt", "dd"}


class _HtmlLines(HTMLParser):
    """HTML as lines of text: a table row (or dt/dd pair) becomes ``cell<TAB>cell``, block
    elements and <br> end lines, inline markup (``<b>Label:</b> value``) stays on its line.
    A row whose cells all hold several lines (the wrapper tables of mail templates, form cards
    ``<td><b>Name</b><br>Jean</td>``) keeps the lines of each cell: blocks of text, not a label
    and a value."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.row: list[str] = []
        self.row_pieces: list[list[str]] = []  # the lines of each cell of the row
        self.header_row = True  # all cells so far are <th>
        self.text: list[str] = []
        self.in_cell = False
        self.cell_is_header = False
        self.colspan = 1
        self.skip_depth = 0
        self.tables: list[bool] = []  # saved in_cell of enclosing tables

    def _pieces(self) -> list[str]:
        pieces = "".join(self.text).split("\n")
        return [" ".join(piece.split()) for piece in pieces if piece.strip()]

    def _text(self) -> str:
        """The cell or paragraph being built; line breaks inside a cell become ", "."""
        return ", ".join(self._pieces())

    def _end_cell(self) -> None:
        if self.in_cell:
            # a cell spanning columns keeps the grid: "KOSTEN PRO MONAT" over label and value
            self.row_pieces.append(self._pieces())
            self.row.extend([self._text()] + [""] * (self.colspan - 1))
            self.header_row = self.header_row and self.cell_is_header
            self.text = []
            self.in_cell = False

    def _end_row(self) -> None:
        self._end_cell()
        if self.text and not self.row:
            line = self._text()
            if line:
                self.lines.append(line)
            self.text = []
        elif self.row:
            if self.text:
                self.row.append(self._text())
                self.text = []
            cells = self.row
            while cells and not cells[-1]:
                cells.pop()
            filled = [pieces for pieces in self.row_pieces if pieces]
            if filled and all(len(pieces) > 1 for pieces in filled):
                # cells holding lines of text (a wrapper cell; form cards side by side,
                # "<td><b>Name</b><br>Jean</td><td><b>PLZ</b><br>10115</td>"): their lines
                for pieces in filled:
                    self.lines.extend(pieces)
            # a row of two <th> ("Field | Value") heads a table of labels and values: not a
            # field; more <th> name the columns of rows of values below (read as a header row)
            elif cells and not (self.header_row and len(cells) == 2 and all(cells)):
                self.lines.append("\t".join(cells))
        self.row = []
        self.row_pieces = []
        self.header_row = True

    def _blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
            return
        if tag == "body":
            self.skip_depth = 0  # an unclosed <head> or <style> must not hide the body
        if tag == "table":
            self._end_row()
            self.tables.append(self.in_cell)
            self.in_cell = False
        elif tag == "tr":
            self._end_row()
        elif tag in _CELL_TAGS:
            self._end_cell()
            if not self.row and self.text:
                self._end_row()
            self.in_cell = True
            self.cell_is_header = tag == "th"
            span = dict(attrs).get("colspan") or "1"
            self.colspan = min(int(span), 10) if span.strip().isdigit() and int(span) > 0 else 1
        elif tag in _BLOCK_TAGS:
            if self.in_cell:
                self.text.append("\n")
            else:
                had_text = bool(self._text())
                self._end_row()
                if tag in ("br", "p", "hr") and not had_text:
                    self._blank()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "table":
            self._end_row()
            self.in_cell = self.tables.pop() if self.tables else False
            self._blank()
        elif tag == "tr":
            self._end_row()
        elif tag in ("td", "th"):
            self._end_cell()
        elif tag in ("dt", "dd"):
            self._end_cell()
            if tag == "dd":
                self._end_row()
        elif tag in _BLOCK_TAGS and self.in_cell:
            self.text.append("\n")  # "<td><p>Name: X</p>Phone: Y</td>": two lines
        elif tag in _BLOCK_TAGS:
            self._end_row()
            if tag in ("p", "div", "h1", "h2", "h3", "h4", "h5", "h6"):
                self._blank()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.text.append(data.replace("\n", " ").replace("\t", " "))

    def result(self) -> list[str]:
        self._end_row()
        return self.lines


def html_to_lines(html: str) -> list[str]:
    """Lines of text of an HTML body (see :class:`_HtmlLines`); [] for unreadable HTML."""
    parser = _HtmlLines()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    return [clean_text(line.replace("\u00a0", " ")).strip(" ") for line in parser.result()]
