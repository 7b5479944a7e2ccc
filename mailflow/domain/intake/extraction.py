"""Learn a sender's format from one example, read its next messages with it.

Pure: no I/O, no clock. An admin corrects the lead of one quarantined message; :func:`learn`
finds where each value sits in the message's decoded text (a *locator*) and :func:`apply`
reads the same places in another message of the same format.

A locator is one of (``pieces``: the value's line as fixed text around the values on it):

- ``prefix``: the value's line starts with a label (``Name: Jean``, ``Name<TAB>Jean``,
  ``Tel: 0612 / a@b.example``), found anywhere in the text;
- ``column``: the value is a cell of a table whose header row (a tab-separated line) holds
  ``label`` in column ``column``; ``offset`` non-blank lines below it;
- ``anchor``: the value is on the ``offset``-th non-blank line after a fixed line ``label``
  (the label above the value, or a heading); ``""`` is the start of the text;
- ``constant``: the same value for every message (only when the admin says so).

Texts are compared case-insensitively with runs of spaces folded; tabs separate table cells;
a value is found as a whole word ("FR" is not in "fragt"). Matching is left to right with
``str.find``: no regular expression is built from what an admin or a message wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from email.message import Message
from email.utils import getaddresses

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
from mailflow.domain.intake.schema import CUSTOMER_FIELDS

MAX_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_TEXT_CHARS = 200_000
MAX_VALUE_CHARS = 2000
MAX_LOCATORS = 40
MAX_ANCHOR_DISTANCE = 6  # non-blank lines between a value and the line it is read under

LEAD_FIELDS = ("external_id", "product", "building_type", "grid_connection", "message")
FIELDS = CUSTOMER_FIELDS + LEAD_FIELDS
KINDS = ("prefix", "column", "anchor", "constant")
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
    """Where one field sits. ``pieces`` is the value's line as fixed text around slots (the
    values on that line): ``("Tel:", " / ", "")`` reads ``Tel: 0612 / a@b.example``; the field
    is slot ``slot``. ``words``: when the text after the last slot is not the same as in the
    example, the last slot's first words."""

    field: str
    kind: str
    label: str = ""
    offset: int = 0
    column: int = 0
    pieces: tuple[str, ...] = ("", "")
    slot: int = 0
    words: int = 0
    value: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["pieces"] = list(self.pieces)
        return {
            k: v
            for k, v in data.items()
            if k in ("field", "kind")
            or (v not in ("", 0) and not (k == "pieces" and v == ["", ""]))
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Locator | None:
        """A stored locator, or None when it is not one (unknown field or kind)."""
        try:
            pieces = data.get("pieces") or ["", ""]
            if not isinstance(pieces, list) or not 2 <= len(pieces) <= 40:
                return None
            locator = cls(
                field=str(data["field"]),
                kind=str(data["kind"]),
                label=str(data.get("label") or "")[:MAX_LINE_CHARS],
                offset=int(data.get("offset") or 0),
                column=int(data.get("column") or 0),
                pieces=tuple(str(piece)[:MAX_LINE_CHARS] for piece in pieces),
                slot=int(data.get("slot") or 0),
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
            and 0 <= locator.slot < len(locator.pieces) - 1
            and 0 <= locator.words <= 100
        ):
            return None
        return locator

    def describe(self) -> str:
        """For the rules page."""
        shape = "".join(
            piece
            + (
                ("{" + ("value" if i == self.slot else "…") + "}")
                if i < len(self.pieces) - 1
                else ""
            )
            for i, piece in enumerate(self.pieces)
        )
        if self.kind == "prefix":
            return f"the line “{shape}”"
        if self.kind == "column":
            rows = "row" if self.offset == 1 else "rows"
            return f"column “{self.label}”, {self.offset} {rows} below the header"
        if self.kind == "anchor":
            where = f"“{self.label}”" if self.label else "the start of the text"
            lines = "line" if self.offset == 1 else "lines"
            return f"“{shape}”, {self.offset} {lines} below {where}"
        return f"always “{self.value}”"


def locators_from_json(data: object) -> list[Locator]:
    if not isinstance(data, list):
        return []
    found = [Locator.from_json(item) for item in data[:MAX_LOCATORS] if isinstance(item, dict)]
    return [locator for locator in found if locator is not None]


def squash(line: str) -> str:
    """Runs of spaces folded, each cell trimmed, cells (tabs) kept apart."""
    return "\t".join(" ".join(cell.split()) for cell in line.split("\t")).strip()


def _lower(text: str) -> str:
    """Lower case, one character for one (positions stay valid: "İ" stays as it is)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def clean_value(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.replace("\t", " ").split()).strip(_TRIM)
    return value[:MAX_VALUE_CHARS] or None


def _slots(line: str, pieces: tuple[str, ...], words: int) -> list[str] | None:
    """The values in ``line`` between the fixed ``pieces`` (left to right, no backtracking)."""
    text = squash(line)
    low = _lower(text)
    fixed = [_lower(squash(piece)) for piece in pieces]
    head = fixed[0]
    if not low.startswith(head):
        return None
    if head and head[-1].isalnum() and len(low) > len(head) and low[len(head)].isalnum():
        return None  # "Name" does not read "Namesake: x"
    at, found = len(head), []
    for piece in fixed[1:-1]:
        where = low.find(piece, at) if piece else -1
        if where < 0:
            return None
        found.append(text[at:where])
        at = where + len(piece)
    tail = fixed[-1]
    if not tail:
        found.append(text[at:])
    elif low.endswith(tail) and len(low) - len(tail) >= at:
        found.append(text[at : len(text) - len(tail)])
    elif words:
        found.append(" ".join(text[at:].split()[:words]))
    else:
        return None
    return found


def _read_line(line: str, locator: Locator) -> str | None:
    found = _slots(line, locator.pieces, locator.words)
    return clean_value(found[locator.slot]) if found else None


def read(lines: list[str], locator: Locator) -> str | None:
    """One field's value in ``lines``, or None."""
    if locator.kind == "constant":
        return clean_value(locator.value)
    if locator.kind == "prefix":
        for line in lines:
            value = _read_line(line, locator)
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
        return _read_line(lines[nonblank[position]], locator)
    if locator.kind == "column":
        want = norm(locator.label)
        for n, i in enumerate(nonblank):
            cells = _cells(lines[i])
            if len(cells) > locator.column and cells[locator.column].casefold() == want:
                position = n + locator.offset
                if position >= len(nonblank):
                    return None
                row = _cells(lines[nonblank[position]])
                return clean_value(row[locator.column]) if len(row) > locator.column else None
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
            if _whole(lowered, start, start + len(want)):
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
                    if _whole(line, begin, end):
                        spans.append((begin, end))
                    break
                if not want.startswith(folded):
                    break
        begin += 1
    return spans


def _whole(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is not a piece of a longer word or number ("FR" in "fragt")."""
    return not (
        (start > 0 and text[start - 1].isalnum() and text[start].isalnum())
        or (end < len(text) and text[end].isalnum() and text[end - 1].isalnum())
    )


def _template(text: str, values: Mapping[str, str]) -> tuple[tuple[str, ...], list[str]] | None:
    """``text`` (squashed) as fixed pieces around the values found in it, and the fields in
    slot order; None when no value is in it."""
    low = _lower(text)
    spans: list[tuple[int, int, str]] = []
    for field, value in sorted(values.items(), key=lambda item: -len(item[1])):
        want = _lower(squash(value))
        start = low.find(want) if want else -1
        while start >= 0:
            end = start + len(want)
            if _whole(low, start, end) and all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, field))
                break
            start = low.find(want, start + 1)
    if not spans:
        return None
    spans.sort()
    pieces, fields, at = [], [], 0
    for start, end, field in spans:
        pieces.append(text[at:start])
        fields.append(field)
        at = end
    pieces.append(text[at:])
    return tuple(pieces), fields


def _label_like(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _candidates(lines: list[str], field: str, values: Mapping[str, str]) -> Iterable[Locator]:
    nonblank = _nonblank(lines)
    folded = [norm(v) for v in values.values()]

    def fixed(line: str) -> bool:  # holds no entered value: text of the format itself
        text = norm(line)
        return _label_like(text) and not any(v in text for v in folded)

    here: list[tuple[int, tuple[str, ...], int]] = []  # (position, pieces, slot)
    for n, i in enumerate(nonblank):
        shaped = _template(squash(lines[i]), values)
        if shaped is not None and field in shaped[1]:
            here.append((n, shaped[0], shaped[1].index(field)))

    def words(pieces: tuple[str, ...], slot: int) -> int:
        last = slot == len(pieces) - 2 and pieces[-1].strip()
        return len(values[field].split()) if last else 0

    # a label on the value's line first (the most robust), then table columns, then lines above
    for _, pieces, slot in here:
        if _label_like(pieces[0]):
            yield Locator(field, "prefix", pieces=pieces, slot=slot, words=words(pieces, slot))
    value = norm(values[field])
    for n, _pieces, _slot in here:
        cells = _cells(lines[nonblank[n]])
        column = next((c for c, cell in enumerate(cells) if cell.casefold() == value), None)
        if column is None or len(cells) < 2:
            continue
        for m in range(n - 1, max(-1, n - MAX_ANCHOR_DISTANCE - 1), -1):
            head = _cells(lines[nonblank[m]])
            if len(head) > column and _label_like(head[column]) and fixed(lines[nonblank[m]]):
                yield Locator(field, "column", label=head[column], column=column, offset=n - m)
                break
    for n, pieces, slot in here:
        shape = {"pieces": pieces, "slot": slot, "words": words(pieces, slot)}
        for m in range(n - 1, max(-1, n - MAX_ANCHOR_DISTANCE - 1), -1):
            above = lines[nonblank[m]]
            if fixed(above):
                yield Locator(field, "anchor", label=squash(above), offset=n - m, **shape)
                break
        yield Locator(field, "anchor", offset=n + 1, **shape)


@dataclass(frozen=True)
class Learned:
    locators: list[Locator]
    missing: list[str]  # fields whose value is not in the text (and not a constant)


def learn(lines: list[str], values: Mapping[str, str], constants: Iterable[str] = ()) -> Learned:
    """Where each value the admin entered sits in ``lines``. A field named in ``constants``
    becomes a constant when its value is not in the text; another value not in the text is
    reported missing. Each locator is checked: it must read its value back from ``lines``."""
    values = {k: clean_value(v) for k, v in values.items() if k in FIELDS}
    values = {k: v for k, v in values.items() if v}
    constants = set(constants)
    locators: list[Locator] = []
    missing: list[str] = []
    for field, value in values.items():
        chosen = None
        for candidate in _candidates(lines, field, values):
            # the value must be read back (the anchor is the first line like it, ...)
            if norm(read(lines, candidate) or "") == norm(value):
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
