"""Where in a message the lead is: each JSON part, forwarded message, body, text and CSV
attachment is a candidate, read under its best layout (:mod:`mailflow.domain.intake.layouts`);
the most plausible one is built."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from email.message import Message

from mailflow.domain.intake.build import build_from_document, build_from_rows
from mailflow.domain.intake.forwards import Context, split_forwarded
from mailflow.domain.intake.label_data import CUSTOMER_KEYS
from mailflow.domain.intake.layouts import read_best
from mailflow.domain.intake.limits import MAX_BODY_CHARS, MAX_LINES
from mailflow.domain.intake.mime import (
    content_type,
    filename,
    header,
    html_to_lines,
    is_attachment,
    leaves,
    looks_like_html,
    part_text,
)
from mailflow.domain.intake.rows import Collected, collect

# CSV parts: read as text whatever they are declared as (spreadsheets are often sent as
# application/octet-stream or application/vnd.ms-excel); a header line over a row of values
CSV_TYPES = ("text/csv", "text/comma-separated-values", "application/csv", "text/x-csv")
CSV_SUFFIXES = (".csv",)

PLAUSIBLE_CORE = 3  # customer fields (name, email, postcode …) that make a body look like a lead


@dataclass
class _Candidate:
    rank: int  # json 3, forwarded message 2, body 1, text attachment 0
    core: int
    context: Context
    layout: str
    notes: list[str]
    collected: Collected | None = None
    document: dict | None = None

    def build(self, default_country: str) -> tuple[dict, dict]:
        if self.document is not None and isinstance(self.document.get("customer"), dict):
            data, info = build_from_document(self.document, self.context, default_country)
        else:
            data, info = build_from_rows(
                self.collected or Collected(), self.context, default_country
            )
        info["layout"] = self.layout
        if self.context.forwarded:
            info["forwarded"] = self.context.forwarded
        if self.notes:
            info["charsets"] = self.notes
        return data, info


def best_candidate(message: Message, context: Context, depth: int) -> _Candidate | None:
    candidates: list[_Candidate] = []
    plain: list[str] = []
    html: list[str] = []
    attached: list[tuple[str, bool]] = []  # (text, is html)
    notes: list[str] = []
    for kind, part in leaves(message):
        if kind == "message":
            if depth < 5:
                inner = best_candidate(
                    part,
                    context.inner(header(part, "Subject"), header(part, "From"), "message/rfc822"),
                    depth + 1,
                )
                if inner is not None:
                    candidates.append(replace(inner, rank=2))
            continue
        ctype = content_type(part)
        name = (filename(part) or "").lower()
        if ctype == "application/json" or ctype.endswith("+json") or name.endswith(".json"):
            text, _ = part_text(part)
            document = _load_json(text)
            if document is not None:
                candidates.append(_document_candidate(document, context))
            continue
        if ctype in CSV_TYPES or name.endswith(CSV_SUFFIXES):
            text, note = part_text(part)
            if note:
                notes.append(note)
            attached.append((text, False))
            continue
        if not (ctype.startswith("text/") or ctype.startswith("multipart/")) or ctype in (
            "text/calendar",
            "text/rfc822-headers",
        ):
            continue
        text, note = part_text(part)
        if note:
            notes.append(note)
        is_html = ctype == "text/html" or looks_like_html(text)
        if is_attachment(part):
            attached.append((text, is_html))
        elif is_html:
            html.append(text)
        else:
            document = _load_json(text) if text.lstrip().startswith("{") else None
            if document is not None:
                candidates.append(_document_candidate(document, context))
            plain.append(text)
    bodies = [("text", "\n".join(plain), False, 1), ("html", "\n".join(html), True, 1)]
    bodies += [("attachment", text, is_html, 0) for text, is_html in attached[:5]]
    for layout, text, is_html, rank in bodies:
        text = text[:MAX_BODY_CHARS]
        lines = html_to_lines(text) if is_html else text.splitlines()
        if not lines:
            continue
        candidate = _rows_candidate(lines[:MAX_LINES], context, layout, rank, notes)
        if candidate is not None:
            candidates.append(candidate)
    candidates = [c for c in candidates if c.core > 0]
    if not candidates:
        return None
    # A plausible lead (three customer fields) beats a stray one (a signature's phone in an
    # attached message); then JSON > forwarded message > body, text before HTML on a tie
    # (max keeps the first of equals).
    return max(candidates, key=lambda c: (c.core >= PLAUSIBLE_CORE, c.rank, c.core))


def _rows_candidate(
    lines: list[str], context: Context, layout: str, rank: int, notes: list[str]
) -> _Candidate | None:
    best: _Candidate | None = None
    for segment in split_forwarded(lines):
        reading = read_best(segment.lines)
        collected = reading.collected
        if collected.core_count() == 0:
            continue
        segment_context = (
            context.inner(segment.subject, segment.sender, "inline")
            if segment.forwarded
            else context
        )
        if reading.layout != "plain":
            name = f"{layout}_{reading.layout}"  # "html_stacked", "attachment_header_row"
        else:
            name = f"{layout}_tabs" if collected.tabs and layout == "text" else layout
        candidate = _Candidate(
            rank, collected.core_count(), segment_context, name, notes, collected=collected
        )
        # the deepest forwarded message wins a tie: it is the original lead
        if best is None or candidate.core >= best.core:
            best = candidate
    return best


def _load_json(text: str) -> dict | None:
    try:
        document = json.loads(text.strip().lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and isinstance(document.get("lead"), dict):
        document = document["lead"]  # {"lead": {...}} envelopes
    return document if isinstance(document, dict) else None


def _document_candidate(document: dict, context: Context) -> _Candidate:
    customer = document.get("customer")
    if isinstance(customer, dict):
        core = sum(
            1 for key in customer if key in CUSTOMER_KEYS and customer[key] not in ("", None)
        )
        return _Candidate(3, max(core, 1), context, "json", [], document=document)
    # a flat document ({"name": …, "zip": …}): its keys are labels
    collected = collect([f"{label}\t{value}" for label, value in _flatten(document)])
    collected.votes.clear()  # field names of a document say nothing of the customer's language
    return _Candidate(3, collected.core_count(), context, "json", [], collected=collected)


def _flatten(document: dict, depth: int = 0) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if isinstance(value, dict) and depth < 3:
            rows.extend(_flatten(value, depth + 1))
        elif isinstance(value, list):
            rows.append((str(key), ", ".join(str(item) for item in value)))
        elif value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            rows.append((str(key).replace("_", " "), " ".join(text.split())))
    return rows
