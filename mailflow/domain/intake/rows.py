"""Reading a body's ``Label: value`` lines, tab-separated and Markdown table rows into fields."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mailflow.domain.intake.label_data import CUSTOMER_KEYS, IGNORED, SUBJECT
from mailflow.domain.intake.labels import Resolved, resolve
from mailflow.domain.intake.limits import MAX_LINES
from mailflow.domain.intake.mime import EMAIL_ADDRESS

MAX_EXTRA = 100  # unknown labels kept per lead


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
        return len({f.key for f in self.fields if f.key in CUSTOMER_KEYS})

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


QUOTE = re.compile(r"^(\s*>)+ ?")
_LABEL_LINE = re.compile(r"^(?P<label>[^:：]{1,80}?)\s*[:：]\s*(?P<value>.*)$")
_SPACED_LINE = re.compile(r"^(?P<label>\S.{0,60}?)(?:\s{2,}|\s*\|\s*)(?P<value>\S.*)$")
_BULLET = re.compile(r"^[\s\-–—*•·▪>]+")
_SENTENCE_END = re.compile(r"[.!?,;]$")
_CONTINUED_KEYS = ("message", "street")
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")  # markup left in text bodies


def _clean_label(label: str) -> str:
    label = _BULLET.sub("", label).strip().strip("*_").strip()
    return label.rstrip(":：").strip()


def split_label_line(line: str) -> tuple[str, str] | None:
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
    between = line[match.end("label") : match.start("value")]
    if label[-1].isdigit() and value[:1].isdigit() and between.strip() == between:
        return None  # "ab 18:00" (but "Address line 1: 221B Baker Street" is a field)
    return label, value.strip("*_ ").strip()


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 6
        and line[0].isalpha()
        and not _SENTENCE_END.search(line)
        and not EMAIL_ADDRESS.search(line)
    )


def _is_header_row(cells: list[str]) -> bool:
    """A row of three or more labels, most of them known: the columns of a table whose values
    are on the row below, never label and value pairs."""
    if len(cells) < 3 or not all(cells):
        return False
    known = sum(1 for cell in cells if resolve(_clean_label(cell)) is not None)
    return known >= 2 and 2 * known >= len(cells)


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
    pending: tuple[Resolved, str] | None = None  # a label whose value is on the next line
    current: Field | None = None  # the field unlabelled lines continue
    seen_label = False

    def take(label: str, value: str, context: str, in_column: bool = False) -> None:
        nonlocal pending, current, seen_label, heading
        pending, current = None, None
        label = _clean_label(_TAG.sub("", label))
        value = value.strip()
        if not label:
            return
        resolved = resolve(label, context)
        if resolved is None:
            if value:
                out.add_extra(label, value, context, qualify=in_column)
                seen_label = True
            elif not seen_label or _looks_like_heading(label):
                heading = label  # "Kosten pro Monat:" is a heading, not a field
            return
        seen_label = True
        if resolved.key == IGNORED:
            return
        if resolved.key == SUBJECT:
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
            line = QUOTE.sub("", line)
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
                if _is_header_row(cells):
                    continue  # "Name | E-Mail | PLZ" over a row of values: no field itself
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
        pair = split_label_line(stripped)
        if pair is None:
            spaced = _SPACED_LINE.match(stripped)
            if spaced and resolve(_clean_label(spaced.group("label"))):
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
