"""The layouts and separators of lead emails, as data, and the choice among their readings.

A body is read under every layout: each reader rewrites the body's lines into the
``label<TAB>value`` rows that :func:`mailflow.domain.intake.rows.collect` reads, and leaves the
lines it does not recognise as they are (so ``Label: value`` lines and tables are read in every
reading). Readers:

- ``plain``: the lines as they are (``Label: value``, ``Label<TAB>value``, Markdown tables);
- ``stacked``: the label on its own line (or table row, or ``<strong>Label</strong><br>``), the
  value on the next line (blank lines between them allowed, as WordPress form plugins send);
- ``header_row``: a line of labels above one line of values, cells separated by a tab, ``;``,
  ``,`` or ``|`` (CSV bodies and attachments, tables whose labels are a row above the values);
- one reader per entry of :data:`SEPARATORS` (``Label - value``, ``field = value``,
  ``Label -> value``, ``label;value``).

Each reading is scored (:func:`score`) by how many customer fields it resolves with plausible
values, then how many known fields, less the implausible ones; the best reading wins and the
plain reading wins ties, so a layout never changes a reading unless it reads strictly more.
Nothing here knows a particular sender: only labels that resolve make fields of a layout that
could also be prose (a label above a value, a dash).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from mailflow.domain.intake.label_data import CUSTOMER_KEYS, DETAIL_KEYS, IGNORED, SUBJECT
from mailflow.domain.intake.labels import LOOKUP, resolve
from mailflow.domain.intake.mime import EMAIL_ADDRESS
from mailflow.domain.intake.rows import Collected, collect, split_label_line
from mailflow.domain.intake.values import normalise_words

MAX_LABEL_WORDS = 8  # a label on its own line is short; longer lines are prose
MAX_RULE_LABEL_WORDS = 6  # … and shorter still when only a keyword rule resolves it
MAX_GAP = 2  # blank lines allowed between a label and its value
MAX_ROW_LINES = 20  # lines one quoted CSV row may run over


@dataclass(frozen=True)
class Separator:
    """A ``label SEP value`` line form. ``any_label``: also labels no vocabulary knows (kept
    under extra), for forms whose field names are identifiers (``code_postal = 75011``)."""

    name: str
    pattern: re.Pattern[str]
    any_label: bool


# The separators besides the colon, the tab and ``|``/two spaces (read by every reading).
SEPARATORS: tuple[Separator, ...] = (
    # "Téléphone - 06 12 34 56 78", "PLZ – 10115": only labels that resolve (prose has dashes)
    Separator(
        "dash", re.compile(r"^(?P<label>[^\t:=]{1,60}?)\s+[-–—]{1,2}\s+(?P<value>\S.*)$"), False
    ),
    # PHP form mailers: "nom = Dupont", "code_postal=75011", print_r's "[email] => a@b.fr"
    Separator(
        "equals",
        re.compile(r"^\[?(?P<label>[^\W\d][\w .,'’/°#-]{0,59}?)\]?\s*=>?\s*(?P<value>[^=].*|)$"),
        True,
    ),
    # "Name -> Jean", "PLZ » 10115", "Ort → Berlin"
    Separator(
        "arrow",
        re.compile(r"^(?P<label>[^\t:=>»→]{1,60}?)\s*(?:-+>|=>|→|»|>>)\s*(?P<value>\S.*)$"),
        False,
    ),
    # one "label;value" pair a line: the transposed CSV exports of lead portals
    Separator(
        "semicolon", re.compile(r"^(?P<label>[^;\t:]{1,60}?)\s*;\s*(?P<value>[^;]*);?$"), False
    ),
)

# cell separators of a header line above a row of values, the likelier first
CELL_SEPARATORS = ("\t", ";", ",", "|")

_IDENTIFIER = re.compile(r"^[A-Za-z_][\w-]{0,40}$")
_DECORATION = re.compile(r"^[\s\-–—=*_#•·▪>|]+|[\s\-–—=*_#•·▪|:：]+$")
_SENTENCE_END = re.compile(r"[!,;]$")  # "?" ends labels too: "Wofür interessieren Sie sich?"
# "--- Label ---" (WordPress form plugins' plain text): a label even when no vocabulary knows it
_MARKED_LABEL = re.compile(r"^-{2,}\s*(?P<label>[^-\s].{0,58}?)\s*-{2,}$")


def _label_text(line: str) -> str:
    return _DECORATION.sub("", line).strip().rstrip(":：").strip()


def _known(label: str) -> bool:
    """Whether ``label`` names a field (IGNORED names mail headers, which are no fields)."""
    resolved = resolve(label)
    return resolved is not None and resolved.key != IGNORED


def _single_cell(line: str) -> str:
    """A table row with one filled cell (``<td>&nbsp;</td><td>value</td>``) as that cell."""
    if "\t" not in line:
        return line.strip()
    cells = [cell.strip() for cell in line.split("\t") if cell.strip()]
    return cells[0] if len(cells) == 1 else line.strip()


def stacked_label(line: str) -> str | None:
    """The label of a line that is a label alone (``Nom``, ``--- E-Mail ---``, ``PLZ:``)."""
    line = _single_cell(line)
    if not line or "\t" in line or EMAIL_ADDRESS.search(line):
        return None
    pair = split_label_line(line)
    if pair is not None and pair[1]:
        return None  # "Label: value" is read by every reading
    marked = _MARKED_LABEL.match(line)
    if marked:
        return marked.group("label").rstrip(":：").strip() or None
    text = _label_text(line)
    words = text.split()
    if not text or len(text) > 60 or len(words) > MAX_LABEL_WORDS or _SENTENCE_END.search(text):
        return None
    if not _known(text) or (text.endswith(".") and normalise_words(text) not in LOOKUP):
        return None  # "Tel." is a label, "Call my mobile." a sentence
    if normalise_words(text) not in LOOKUP and (
        len(words) > MAX_RULE_LABEL_WORDS or any(ch.isdigit() for ch in text)
    ):
        return None  # a keyword rule matched a phrase or a value: "Hauptstraße 5"
    return text


def _is_label_line(line: str) -> bool:
    """A label alone, or a ``Label: value`` line whose label is known (a mail header's too:
    ``From: …`` under "--- Original Message ---"): never a value."""
    if stacked_label(line) is not None:
        return True
    pair = split_label_line(_single_cell(line))
    return pair is not None and bool(pair[1]) and resolve(pair[0]) is not None


def _next_filled(lines: list[str], start: int, gap: int = MAX_GAP) -> int | None:
    index = start
    while index < len(lines) and index - start <= gap:
        if lines[index].strip():
            return index
        index += 1
    return None


def read_stacked(lines: list[str]) -> list[str]:
    """Label lines with their value on the next line as ``label<TAB>value`` rows. A value line
    that is itself a label is a label (the field above was left empty), unless no value follows
    it and it fits the field above (``Produkt`` / ``Wärmepumpe``)."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        label = stacked_label(line)
        if label is None:
            out.append(line)
            index += 1
            continue
        at = _next_filled(lines, index + 1)
        if at is None:
            out.append(line)
            index += 1
            continue
        value = _single_cell(lines[at])
        if _is_label_line(lines[at]):
            after = _next_filled(lines, at + 1)
            resolved = resolve(label)
            fits = (
                stacked_label(lines[at]) is not None  # a bare label, no "Label: value" line
                and resolved is not None
                and plausible(resolved.key, value)
            )
            if not fits or (after is not None and not _is_label_line(lines[after])):
                out.append(line)  # an empty field: the next line is the next label
                index += 1
                continue
        out.append(f"{label}\t{value}")
        index = at + 1
    return out


def _cells(line: str, separator: str) -> list[str]:
    if separator == "\t":
        cells = line.split("\t")
    else:
        try:
            reader = csv.reader(
                io.StringIO(line, newline=""), delimiter=separator, skipinitialspace=True
            )
            cells = next(reader, [])
        except csv.Error:
            return []
    cells = [" ".join(cell.split()) for cell in cells]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def header_pairs(header: str, row: str) -> list[tuple[str, str]] | None:
    """(label, value) pairs of a header line above a row of values, or None when ``header`` is
    no line of labels (most of its cells must resolve) or ``row`` no matching row of values."""
    for separator in CELL_SEPARATORS:
        if separator not in header or separator not in row:
            continue
        labels, values = _cells(header, separator), _cells(row, separator)
        if len(labels) < 2 or not values or len(values) > len(labels):
            continue
        known = sum(1 for label in labels if _known(_label_text(label)))
        if known < 2 or 2 * known < len(labels):
            continue
        if 3 * sum(1 for value in values if _is_label(value)) >= len(values):
            continue  # a second line of labels, not values
        values += [""] * (len(labels) - len(values))
        return [(_label_text(label), value) for label, value in zip(labels, values, strict=True)]
    return None


def read_header_row(lines: list[str]) -> list[str]:
    """A line of labels and the row of values below it as ``label<TAB>value`` rows; further
    rows (a CSV of several leads) are left as they are: one message gives one lead."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        at = _next_filled(lines, index + 1, gap=0)
        pairs = None
        if at is not None:
            row = lines[at]
            # a quoted value holding line breaks ("Bemerkung") goes on over the next lines
            while row.count('"') % 2 and at + 1 < len(lines) and at - index < MAX_ROW_LINES:
                at += 1
                row = f"{row}\n{lines[at]}"
            pairs = header_pairs(lines[index], row)
        if pairs is None or at is None:
            out.append(lines[index])
            index += 1
            continue
        out.extend(f"{label}\t{value}" for label, value in pairs if label)
        out.append("")
        index = at + 1
    return out


def _separated_field(label: str, value: str) -> bool:
    """A known label; one the vocabulary lists verbatim, or a short phrase before a value that is
    no sentence ("vielen Dank für Ihre Anfrage - wir melden uns morgen." is prose)."""
    if not _known(label):
        return False
    if normalise_words(label) in LOOKUP:
        return True
    words = label.split()
    return (
        len(words) <= MAX_RULE_LABEL_WORDS
        and len(words) <= 4
        and not any(ch.isdigit() for ch in label)
        and not value.rstrip().endswith((".", "!", "?"))
    )


def separated_reader(separator: Separator) -> Callable[[list[str]], list[str]]:
    def read(lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            match = separator.pattern.match(line.strip()) if "\t" not in line else None
            if match is None:
                out.append(line)
                continue
            label = match.group("label").replace("_", " ").strip()
            value = match.group("value").strip()
            if _separated_field(label, value) or (
                separator.any_label and _IDENTIFIER.match(match.group("label").strip()) and value
            ):
                out.append(f"{label}\t{value}")
            else:
                out.append(line)
        return out

    return read


def _plain(lines: list[str]) -> list[str]:
    return lines


# name → reader; the order breaks ties (the first of equal readings wins)
READERS: tuple[tuple[str, Callable[[list[str]], list[str]]], ...] = (
    ("plain", _plain),
    ("stacked", read_stacked),
    ("header_row", read_header_row),
    *((separator.name, separated_reader(separator)) for separator in SEPARATORS),
)


# --- scoring -------------------------------------------------------------------------------

_NAME_KEYS = ("name", "first_name", "last_name")
_DIGITS = re.compile(r"\d")


def _is_label(value: str) -> bool:
    return normalise_words(value) in LOOKUP


def plausible(key: str, value: str) -> bool:
    """Whether ``value`` can be what a field ``key`` holds (a reading's quality, not
    validation: the schema validates the lead)."""
    value = value.strip()
    if not value:
        return False
    digits = len(_DIGITS.findall(value))
    if key == "email":
        return bool(EMAIL_ADDRESS.search(value))
    if key == "phone":
        return 6 <= digits <= 20 and digits * 2 >= len(value.replace(" ", ""))
    if key in ("postcode", "postcode_city", "house_number"):
        return digits > 0 and (key == "postcode_city" or len(value) <= 12)
    if key in CUSTOMER_KEYS:
        if _is_label(value) or "@" in value or len(value.split()) > 12:
            return False
        return key not in _NAME_KEYS or digits == 0
    if (
        key in DETAIL_KEYS
        and key not in ("module", "main_consumption")
        and key.endswith(
            ("_kwh", "_m2", "_deg", "_count", "_size", "_pv", "_monthly", "_yearly", "_20y", "_kg")
        )
    ):
        return digits > 0
    return key not in (SUBJECT, IGNORED)


def score(collected: Collected) -> tuple[int, int]:
    """(customer fields with plausible values less those with implausible ones, all plausible
    fields less all implausible ones)."""
    first: dict[str, str] = {}
    for item in collected.fields:
        first.setdefault(item.key, item.value)
    core = good = 0
    for key, value in first.items():
        sign = 1 if plausible(key, value) else -1
        good += sign
        core += sign if key in CUSTOMER_KEYS else 0
    return core, good


@dataclass
class Reading:
    layout: str
    collected: Collected


def read_best(lines: list[str]) -> Reading:
    """The best reading of ``lines`` under every layout (see the module's docstring)."""
    best: Reading | None = None
    best_score: tuple[int, int] | None = None
    for name, reader in READERS:
        rewritten = reader(lines)
        if best is not None and rewritten == lines:
            continue  # nothing in this layout: the plain reading already read it
        collected = collect(rewritten)
        value = score(collected)
        if best_score is None or value > best_score:
            best, best_score = Reading(name, collected), value
    assert best is not None
    return best
