"""Learn a sender's format from one example, read its next messages with it.

Pure: no I/O, no clock. An admin corrects the lead of one quarantined message; :func:`learn`
finds where each value sits in the message's decoded text (a *locator*) and :func:`apply`
reads the same places in another message of the same format.

A locator is one of:

- ``prefix``: the value follows a label on its own line (``Name: Jean``, ``Name<TAB>Jean``);
  ``label`` is the text before the value, ``after`` any fixed text after it;
- ``column``: the value is a cell of a table whose header row (a tab-separated line) holds
  ``label`` in column ``column``; ``offset`` non-blank lines below it;
- ``anchor``: the value is on the ``offset``-th non-blank line after a fixed line ``label``
  (the label above the value, or a heading); ``""`` is the start of the text;
  ``before``/``after`` the fixed text around the value on its line;
- ``constant``: the same value for every message (only when the admin says so).

Texts are compared case-insensitively with runs of spaces folded; tabs separate table cells.
A rule matches mail by sender (an address, or ``@domain`` for the domain and its subdomains)
and an optional subject pattern: a plain "contains", or a glob whose only wildcard is ``*``,
matched without regular expressions (no pattern typed in a web form can make it slow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from email.message import Message
from email.utils import getaddresses

from mailflow.domain.intake.enums import parse_building_type, parse_grid_connection, parse_product
from mailflow.domain.intake.mime import (
    content_type,
    header,
    html_to_lines,
    is_attachment,
    leaves,
    looks_like_html,
    parse_bytes,
    part_text,
)

MAX_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_TEXT_CHARS = 200_000
MAX_VALUE_CHARS = 2000
MAX_LOCATORS = 40
MAX_ANCHOR_DISTANCE = 6  # non-blank lines between a value and the line it is read under

CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "country",
    "language",
    "reachability",
)
LEAD_FIELDS = ("external_id", "product", "building_type", "grid_connection", "message")
FIELDS = CUSTOMER_FIELDS + LEAD_FIELDS
KINDS = ("prefix", "column", "anchor", "constant")
_ENUMS = {
    "product": parse_product,
    "building_type": parse_building_type,
    "grid_connection": parse_grid_connection,
}
_TRIM = " \t:：|-–—*•"


# ------------------------------------------------------------------ text --------------------
def decoded_lines(message: Message) -> list[str]:
    """The text an admin reads: the text parts (else the HTML parts, as lines; a table row is
    ``cell<TAB>cell``), quoted-printable and base64 undone, not descending into attached
    messages."""
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
            html.append(text[:MAX_TEXT_CHARS])
        else:
            plain.append(text[:MAX_TEXT_CHARS])
    if any(text.strip() for text in plain):
        lines = "\n".join(plain).splitlines()
    else:
        lines = [line for text in html for line in html_to_lines(text)]
    return [line.rstrip()[:MAX_LINE_CHARS] for line in lines[:MAX_LINES]]


def decoded_lines_of(raw: bytes) -> list[str]:
    message, _ = parse_bytes(raw)
    return decoded_lines(message)


def sender_of(message: Message) -> str:
    """The From address, lower-case ("" when there is none)."""
    for _, address in getaddresses([header(message, "From")]):
        if "@" in address:
            return address.strip().lower()
    return ""


def norm(text: str) -> str:
    """Case folded, runs of spaces folded to one, cells (tabs) kept apart."""
    return "\t".join(" ".join(cell.split()) for cell in text.split("\t")).strip().casefold()


def _cells(line: str) -> list[str]:
    return [" ".join(cell.split()) for cell in line.split("\t")]


def _nonblank(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip()]


# ------------------------------------------------------------------ locators ----------------
@dataclass(frozen=True)
class Locator:
    field: str
    kind: str
    label: str = ""
    offset: int = 0
    column: int = 0
    before: str = ""
    after: str = ""
    words: int = 0  # with ``after``: when the text after differs, the value's first words
    value: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", 0) or k in ("field", "kind")}

    @classmethod
    def from_json(cls, data: Mapping) -> Locator | None:
        """A stored locator, or None when it is not one (unknown field or kind)."""
        try:
            locator = cls(
                field=str(data["field"]),
                kind=str(data["kind"]),
                label=str(data.get("label") or "")[:MAX_LINE_CHARS],
                offset=int(data.get("offset") or 0),
                column=int(data.get("column") or 0),
                before=str(data.get("before") or "")[:MAX_LINE_CHARS],
                after=str(data.get("after") or "")[:MAX_LINE_CHARS],
                words=int(data.get("words") or 0),
                value=str(data.get("value") or "")[:MAX_VALUE_CHARS],
            )
        except (KeyError, TypeError, ValueError):
            return None
        if locator.field not in FIELDS or locator.kind not in KINDS:
            return None
        if not (
            0 <= locator.offset <= MAX_LINES
            and 0 <= locator.column <= 100
            and 0 <= locator.words <= 100
        ):
            return None
        return locator

    def describe(self) -> str:
        """For the rules page."""
        if self.kind == "prefix":
            return f"after “{self.label}” on its line"
        if self.kind == "column":
            rows = "row" if self.offset == 1 else "rows"
            return f"column “{self.label}”, {self.offset} {rows} below the header"
        if self.kind == "anchor":
            where = f"“{self.label}”" if self.label else "the start of the text"
            lines = "line" if self.offset == 1 else "lines"
            return f"{self.offset} {lines} below {where}"
        return f"always “{self.value}”"


def locators_from_json(data: object) -> list[Locator]:
    if not isinstance(data, list):
        return []
    found = [Locator.from_json(item) for item in data[:MAX_LOCATORS] if isinstance(item, dict)]
    return [locator for locator in found if locator is not None]


def _strip_after(rest: str, after: str) -> str | None:
    if not after:
        return rest
    if norm(rest).endswith(norm(after)):
        # cut as many characters as the folded suffix has words/characters in rest
        folded_after = norm(after)
        for cut in range(len(rest), -1, -1):
            if norm(rest[cut:]) == folded_after:
                return rest[:cut]
    return None


def _after_prefix(line: str, label: str) -> str | None:
    """The rest of ``line`` after the label ``label`` (compared folded), or None."""
    folded, want = norm(line), norm(label)
    if not want or not folded.startswith(want):
        return None
    # the label must end on a word boundary: "Name" does not read "Namesake: x"
    if want[-1].isalnum() and len(folded) > len(want) and folded[len(want)].isalnum():
        return None
    # map the folded length back onto the original line
    for cut in range(len(line) + 1):
        if norm(line[:cut]) == want:
            while cut < len(line) and norm(line[: cut + 1]) == want:
                cut += 1
            return line[cut:]
    return None


def _clean_value(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.replace("\t", " ").split()).strip(_TRIM)
    return value[:MAX_VALUE_CHARS] or None


def _read_line(line: str, before: str, after: str, words: int = 0) -> str | None:
    rest = line
    if before:
        rest = _after_prefix(line, before)
        if rest is None:
            return None
    value = _strip_after(rest, after)
    if value is None and words:
        value = " ".join(rest.replace("\t", " ").split()[:words])
    return _clean_value(value)


def read(lines: list[str], locator: Locator) -> str | None:
    """One field's value in ``lines``, or None."""
    if locator.kind == "constant":
        return _clean_value(locator.value)
    if locator.kind == "prefix":
        for line in lines:
            value = _read_line(line, locator.label, locator.after, locator.words)
            if value is not None:
                return value
        return None
    nonblank = _nonblank(lines)
    if locator.kind == "anchor":
        if locator.label:
            want = norm(locator.label)
            starts = [n for n, i in enumerate(nonblank) if norm(lines[i]) == want]
            if not starts:
                return None
            position = starts[0] + locator.offset
        else:
            position = locator.offset - 1
        if not 0 <= position < len(nonblank):
            return None
        return _read_line(lines[nonblank[position]], locator.before, locator.after, locator.words)
    if locator.kind == "column":
        want = norm(locator.label)
        for n, i in enumerate(nonblank):
            cells = _cells(lines[i])
            if len(cells) > locator.column and cells[locator.column].casefold() == want:
                position = n + locator.offset
                if position >= len(nonblank):
                    return None
                row = _cells(lines[nonblank[position]])
                return _clean_value(row[locator.column]) if len(row) > locator.column else None
        return None
    return None


def apply(lines: list[str], locators: Iterable[Locator]) -> dict[str, str]:
    """The fields the locators read in ``lines`` (the first locator of a field that reads
    something wins)."""
    values: dict[str, str] = {}
    for locator in locators:
        if locator.field in values:
            continue
        value = read(lines, locator)
        if value is not None:
            values[locator.field] = value
    return values


# ------------------------------------------------------------------ learning ----------------
def _find(line: str, value: str) -> list[tuple[int, int]]:
    """Spans of ``value`` in ``line``, compared case-insensitively, spaces folded."""
    want = norm(value)
    if not want:
        return []
    spans: list[tuple[int, int]] = []
    lowered = line.casefold()
    simple = len(lowered) == len(line) and "  " not in line and "\t" not in line
    if simple:
        start = lowered.find(want)
        while start >= 0:
            spans.append((start, start + len(want)))
            start = lowered.find(want, start + 1)
        return spans
    # runs of spaces, tabs, or letters that fold to another length: walk the candidates
    first = want[0]
    begin = 0
    while begin < len(line):
        if line[begin].casefold().startswith(first):
            for end in range(begin + 1, min(len(line), begin + 4 * len(want) + 4) + 1):
                folded = norm(line[begin:end])
                if folded == want:
                    spans.append((begin, end))
                    break
                if not want.startswith(folded):
                    break
        begin += 1
    return spans


def _words(after: str, value: str) -> int:
    return len(value.split()) if after.strip() else 0


def _label_like(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _candidates(lines: list[str], field: str, value: str, others: list[str]) -> Iterable[Locator]:
    nonblank = _nonblank(lines)
    position_of = {i: n for n, i in enumerate(nonblank)}

    def free(text: str) -> bool:  # holds no value of another field: fixed text of the format
        folded = norm(text)
        return not any(other and other in folded for other in others)

    found = [(i, span) for i in nonblank for span in _find(lines[i], value)]
    # labels on the value's line first (the most robust), then table columns, then lines above
    for i, (start, end) in found:
        line = lines[i]
        before, after = line[:start], line[end:]
        if _label_like(before) and free(before) and free(after):
            yield Locator(
                field,
                "prefix",
                label=before.strip(" "),
                after=after.strip(),
                words=_words(after, value),
            )
    for i, (start, end) in found:
        line = lines[i]
        if "\t" not in line:
            continue
        cells = _cells(line)
        column = next((c for c, cell in enumerate(cells) if norm(cell) == norm(value)), None)
        if column is None:
            continue
        for n in range(position_of[i] - 1, max(-1, position_of[i] - MAX_ANCHOR_DISTANCE - 1), -1):
            head = _cells(lines[nonblank[n]])
            if len(head) > column and _label_like(head[column]) and free(lines[nonblank[n]]):
                yield Locator(
                    field, "column", label=head[column], column=column, offset=position_of[i] - n
                )
                break
    for i, (start, end) in found:
        line = lines[i]
        before, after = line[:start], line[end:]
        if not (free(before) and free(after)):
            continue
        here = position_of[i]
        for n in range(here - 1, max(-1, here - MAX_ANCHOR_DISTANCE - 1), -1):
            above = lines[nonblank[n]]
            if _label_like(above) and free(above):
                yield Locator(
                    field,
                    "anchor",
                    label=above.strip(),
                    offset=here - n,
                    before=before.strip(" "),
                    after=after.strip(),
                    words=_words(after, value),
                )
                break
        yield Locator(
            field,
            "anchor",
            offset=here + 1,
            before=before.strip(" "),
            after=after.strip(),
            words=_words(after, value),
        )


@dataclass(frozen=True)
class Learned:
    locators: list[Locator]
    missing: list[str]  # fields whose value is not in the text (and not a constant)


def learn(lines: list[str], values: Mapping[str, str], constants: Iterable[str] = ()) -> Learned:
    """Where each value the admin entered sits in ``lines``. A field named in ``constants``
    becomes a constant when its value is not in the text; another value not in the text is
    reported missing. Each locator is checked: it must read its value back from ``lines``."""
    values = {k: _clean_value(v) for k, v in values.items() if k in FIELDS}
    values = {k: v for k, v in values.items() if v}
    constants = set(constants)
    folded = {k: norm(v) for k, v in values.items()}
    locators: list[Locator] = []
    missing: list[str] = []
    for field, value in values.items():
        others = [v for k, v in folded.items() if k != field and v not in folded[field]]
        chosen = None
        for candidate in _candidates(lines, field, value, others):
            # the value must be read back, and the anchor must be the first line like it
            if norm(read(lines, candidate) or "") == folded[field]:
                chosen = candidate
                break
        if chosen is None and field in constants:
            chosen = Locator(field, "constant", value=value)
        if chosen is None:
            missing.append(field)
        else:
            locators.append(chosen)
    return Learned(locators, missing)


def highlight(lines: list[str], values: Mapping[str, str]) -> list[list[tuple[str, str | None]]]:
    """Each line as pieces ``(text, field or None)``: where the values sit, for the admin page
    (the caller escapes the text; a piece is never markup)."""
    wanted = [(k, v) for k, v in values.items() if v and len(norm(v)) >= 2]
    result = []
    for line in lines:
        marks: list[tuple[int, int, str]] = []
        for field, value in wanted:
            for start, end in _find(line, value):
                if all(end <= s or start >= e for s, e, _ in marks):
                    marks.append((start, end, field))
        marks.sort()
        pieces: list[tuple[str, str | None]] = []
        at = 0
        for start, end, field in marks:
            if start > at:
                pieces.append((line[at:start], None))
            pieces.append((line[start:end], field))
            at = end
        if at < len(line) or not pieces:
            pieces.append((line[at:], None))
        result.append(pieces)
    return result


# ------------------------------------------------------------------ matching ----------------
def valid_sender(sender: str) -> bool:
    """An address (``leads@platform.example``) or a domain (``@platform.example``)."""
    local, at, domain = sender.partition("@")
    return (
        bool(at)
        and "." in domain
        and "@" not in domain
        and not any(ch.isspace() for ch in sender)
        and all(part for part in domain.split("."))
        and len(sender) <= 320
    )


def sender_matches(pattern: str, sender: str) -> bool:
    pattern, sender = pattern.strip().lower(), sender.strip().lower()
    if not pattern or not sender:
        return False
    if pattern.startswith("@"):
        domain = sender.rpartition("@")[2]
        return domain == pattern[1:] or domain.endswith("." + pattern[1:])
    return sender == pattern


def subject_matches(pattern: str | None, subject: str) -> bool:
    """No pattern: any subject. Without ``*``: the subject contains it. With ``*``: a glob over
    the whole subject, pieces found left to right (linear, no backtracking)."""
    if not pattern or not pattern.strip():
        return True
    want, text = norm(pattern), norm(subject)
    if "*" not in want:
        return want in text
    pieces = want.split("*")
    if not text.startswith(pieces[0]):
        return False
    at = len(pieces[0])
    for piece in pieces[1:-1]:
        found = text.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return len(text) - at >= len(pieces[-1]) and text.endswith(pieces[-1])


def to_lead_data(values: Mapping[str, str]) -> dict:
    """Field values → the webhook's shape (``LeadIn``); enum texts read leniently."""
    data: dict = {"customer": {}, "source": "email"}
    for field, value in values.items():
        if not value:
            continue
        if field in CUSTOMER_FIELDS:
            data["customer"][field] = value
        elif field in _ENUMS:
            parsed = _ENUMS[field](value)
            data[field] = parsed.value if parsed is not None else value
        elif field in LEAD_FIELDS:
            data[field] = value
    return data
