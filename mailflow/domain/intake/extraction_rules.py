"""Extraction rules: which mail a rule reads (sender, subject), and the lead it reads.

A rule matches mail by sender (an address, or ``@domain`` for the domain and its subdomains)
and an optional subject pattern: a plain "contains", or a glob whose only wildcard is ``*``,
matched without regular expressions (no pattern typed in a web form can make it slow). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from mailflow.domain.intake.enums import parse_building_type, parse_grid_connection, parse_product
from mailflow.domain.intake.extraction import (
    CUSTOMER_FIELDS,
    FIELDS,
    LEAD_FIELDS,
    Locator,
    apply,
    decoded_lines,
    norm,
    sender_of,
)
from mailflow.domain.intake.headers import headers_of
from mailflow.domain.intake.mime import header, parse_bytes
from mailflow.domain.intake.parse import describe_errors
from mailflow.domain.intake.schema import LeadIn, error_map

_ENUMS = {
    "product": parse_product,
    "building_type": parse_building_type,
    "grid_connection": parse_grid_connection,
}


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


def to_lead_data(values: Mapping[str, str], details: dict | None = None) -> dict:
    """Field values → the webhook's shape (``LeadIn``); enum texts read leniently."""
    data: dict = {"customer": {}, "source": "email", "details": dict(details or {})}
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


def validate(
    values: Mapping[str, str], default_country: str, details: dict | None = None
) -> tuple[LeadIn | None, dict[str, str]]:
    """The lead these values make, or the errors by field name (``email``, ``product``...)."""
    try:
        lead = LeadIn.model_validate(
            to_lead_data(values, details), context={"default_country": default_country}
        )
    except ValidationError as exc:
        errors = {}
        for location, message in error_map(exc).items():
            name = location.removeprefix("customer.")
            errors[name if name in FIELDS else "form"] = message
        return None, errors
    return lead, {}


# ------------------------------------------------------------------ rules -------------------
@dataclass(frozen=True)
class Rule:
    id: int
    sender: str
    subject_pattern: str | None
    locators: tuple[Locator, ...]

    def matches(self, sender: str, subject: str) -> bool:
        return sender_matches(self.sender, sender) and subject_matches(
            self.subject_pattern, subject
        )

    def specificity(self) -> tuple[bool, bool, int]:
        """An address before a domain, a subject pattern before none, the newest first."""
        return (not self.sender.startswith("@"), bool(self.subject_pattern), self.id)


@dataclass(frozen=True)
class RuleRead:
    """What a rule read in a message: a valid lead, or why not."""

    rule_id: int
    values: dict[str, str]
    lead: LeadIn | None
    error: str | None
    failed_fields: tuple[str, ...] = ()  # names only (the rule's counters keep no mail text)


def read_with_rules(raw: bytes, rules: Iterable[Rule], default_country: str) -> RuleRead | None:
    """The first matching rule (most specific first) that reads a valid lead; else the first
    matching rule's failure; None when no rule matches the sender and subject. Never raises
    (like the parser: a message nobody can read is quarantined, not retried for ever)."""
    try:
        return _read_with_rules(raw, rules, default_country)
    except Exception:
        return None


def _read_with_rules(raw: bytes, rules: Iterable[Rule], default_country: str) -> RuleRead | None:
    rules = list(rules)
    if not rules:
        return None
    head = headers_of(raw)  # the headers first: the whole message is parsed for a match only
    sender, subject = sender_of(head), header(head, "Subject")
    matching = sorted(
        (rule for rule in rules if rule.matches(sender, subject)),
        key=Rule.specificity,
        reverse=True,
    )
    if not matching:
        return None
    lines = decoded_lines(parse_bytes(raw)[0])
    failure = None
    for rule in matching:
        values = apply(lines, rule.locators)
        lead, errors = validate(values, default_country, details={"extraction_rule": rule.id})
        if lead is not None:
            return RuleRead(rule.id, values, lead, None)
        if failure is None:
            reason = describe_errors(
                {("customer." + k if k in CUSTOMER_FIELDS else k): v for k, v in errors.items()}
            )
            failure = RuleRead(rule.id, values, None, reason, tuple(sorted(errors)))
    return failure
