"""An admin reads a quarantined message: completes its lead by hand, and may keep the
correction as an extraction rule for that source ("read this sender's mail like this"); rules
are edited, deleted, and re-run on the quarantined messages they match.

The lead is created by :func:`mailflow.intake.process.apply_result`, as for any message, so
duplicates, routing and the intake limit behave the same. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.intake.extraction import (
    FIELDS,
    Learned,
    decoded_lines_of,
    learn,
    locators_from_json,
    sender_of,
)
from mailflow.domain.intake.extraction_rules import (
    RuleRead,
    read_with_rules,
    valid_sender,
    validate,
)
from mailflow.domain.intake.mime import header, parse_bytes
from mailflow.domain.intake.parse import ParseResult
from mailflow.infra import blobs
from mailflow.intake.process import (
    analyse,
    apply_result,
    lock_inbound,
    process_inbound_message,
)
from mailflow.intake.rule_store import as_rule
from mailflow.models import Channel, ExtractionRule, InboundMessage, InboundOutcome

MAX_SUBJECT_PATTERN = 200
PREVIEW_LIMIT = 200  # quarantined messages looked at, newest first


class Refusal(Exception):
    """The action cannot be done (message no longer quarantined, unknown rule...)."""


class InvalidValues(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def readable(row: InboundMessage) -> bool:
    return row.outcome == InboundOutcome.QUARANTINED and row.channel != Channel.WEBHOOK


def prefill(parsed: dict | None) -> dict[str, str]:
    """The form's values: what the parser found (its candidate lead)."""
    candidate = (parsed or {}).get("candidate")
    if not isinstance(candidate, dict):
        return {}
    flat = dict(candidate)
    if isinstance(candidate.get("customer"), dict):
        flat.update(candidate["customer"])
    return {k: str(v) for k, v in flat.items() if k in FIELDS and v not in (None, "")}


def clean_values(form_values: dict[str, str]) -> dict[str, str]:
    return {k: v.strip() for k, v in form_values.items() if k in FIELDS and v and v.strip()}


@dataclass(frozen=True)
class RuleDraft:
    """What the admin asked to keep: the source (address or @domain), a subject pattern, and
    the fields that are the same in every message."""

    sender: str
    subject_pattern: str | None
    constants: frozenset[str] = frozenset()


def check_draft(draft: RuleDraft) -> RuleDraft:
    sender = draft.sender.strip().lower()
    if not valid_sender(sender):
        raise InvalidValues({"rule_sender": "an address (name@example.org) or @example.org"})
    pattern = (draft.subject_pattern or "").strip()
    if len(pattern) > MAX_SUBJECT_PATTERN:
        raise InvalidValues({"rule_subject": f"at most {MAX_SUBJECT_PATTERN} characters"})
    return RuleDraft(sender, pattern or None, draft.constants)


def new_rule(
    session: Session,
    draft: RuleDraft,
    learned: Learned,
    *,
    example_inbound_id: int | None,
    by: str,
    now: datetime,
) -> ExtractionRule:
    if not learned.locators:
        raise InvalidValues({"rule": "none of the values is in the message's text"})
    rule = ExtractionRule(
        sender=draft.sender,
        subject_pattern=draft.subject_pattern,
        locators=[locator.to_json() for locator in learned.locators],
        example_inbound_id=example_inbound_id,
        created_by=by,
        created_at=now,
        updated_at=now,
        messages_read=0,
        failures=0,
    )
    session.add(rule)
    session.flush()
    return rule


@dataclass(frozen=True)
class Created:
    outcome: InboundOutcome
    lead_id: int | None
    rule: ExtractionRule | None
    learned: Learned | None


def create_from_quarantine(
    session: Session,
    inbound_id: int,
    values: dict[str, str],
    *,
    draft: RuleDraft | None,
    by: str,
    now: datetime,
    settings: Settings,
) -> Created:
    """The lead the admin completed, for a quarantined message; with ``draft``, the rule that
    reads this source's next messages the same way. Raises :class:`InvalidValues` (nothing
    written) or :class:`Refusal`."""
    row = lock_inbound(session, inbound_id)
    if row is None or not readable(row):
        raise Refusal(f"Message #{inbound_id} is not a quarantined email any more.")
    raw = blobs.read(settings, row)
    if raw is None:
        raise Refusal(f"The stored message of #{inbound_id} is missing.")
    values = clean_values(values)
    lead, errors = validate(values, settings.default_country, details={"entered_by": by})
    if draft is not None:
        try:
            draft = check_draft(draft)
        except InvalidValues as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidValues(errors)
    rule = learned = None
    if draft is not None:
        learned = learn(decoded_lines_of(raw), values, draft.constants)
        rule = new_rule(session, draft, learned, example_inbound_id=row.id, by=by, now=now)
    row.parsed = {
        **(row.parsed or {}),
        "entered_by": by,
        **({"rule_saved": rule.id} if rule is not None else {}),
    }
    outcome = apply_result(
        session, row, ParseResult("lead", lead=lead), now=now, settings=settings, raw=raw
    )
    return Created(outcome, row.lead_id, rule, learned)


def default_sender(raw: bytes | None) -> str:
    if not raw:
        return ""
    message, _ = parse_bytes(raw)
    return sender_of(message)


# ------------------------------------------------------------------ rules -------------------
def update_rule(
    session: Session,
    rule_id: int,
    draft: RuleDraft,
    *,
    remove: set[str],
    now: datetime,
) -> ExtractionRule:
    rule = session.get(ExtractionRule, rule_id)
    if rule is None:
        raise Refusal(f"There is no rule #{rule_id}.")
    draft = check_draft(draft)
    kept = [loc for loc in locators_from_json(rule.locators) if loc.field not in remove]
    if not kept:
        raise InvalidValues({"rule": "a rule must read at least one field"})
    rule.sender, rule.subject_pattern = draft.sender, draft.subject_pattern
    rule.locators = [loc.to_json() for loc in kept]
    rule.updated_at = now
    return rule


def delete_rule(session: Session, rule_id: int) -> ExtractionRule:
    rule = session.get(ExtractionRule, rule_id)
    if rule is None:
        raise Refusal(f"There is no rule #{rule_id}.")
    session.delete(rule)
    return rule


@dataclass(frozen=True)
class Preview:
    inbound_id: int
    subject: str
    sender: str
    received_at: datetime
    read: RuleRead


def preview(settings: Settings, rule_id: int) -> list[Preview]:
    """The quarantined messages the rule matches, with what it reads in each (no change)."""
    with session_scope(settings) as session:
        rule = session.get(ExtractionRule, rule_id)
        if rule is None:
            raise Refusal(f"There is no rule #{rule_id}.")
        spec = as_rule(rule)
        rows = list(
            session.scalars(
                select(InboundMessage)
                .where(
                    InboundMessage.outcome == InboundOutcome.QUARANTINED,
                    InboundMessage.channel != Channel.WEBHOOK,
                )
                .order_by(InboundMessage.id.desc())
                .limit(PREVIEW_LIMIT)
            )
        )
        stored = [(row.id, row.received_at, blobs.read(settings, row)) for row in rows]
    found = []
    for inbound_id, received_at, raw in stored:
        if not raw:
            continue
        read = read_with_rules(raw, [spec], settings.default_country)
        if read is None:
            continue
        message, _ = parse_bytes(raw)
        found.append(
            Preview(inbound_id, header(message, "Subject"), sender_of(message), received_at, read)
        )
    return found


def rerun(settings: Settings, rule_id: int, inbound_ids: list[int], *, now: datetime) -> int:
    """Process again, each in its own transaction, the quarantined messages the rule reads
    into a valid lead; returns how many became leads (or duplicates)."""
    done = 0
    with session_scope(settings) as session:
        rule = session.get(ExtractionRule, rule_id)
        if rule is None:
            raise Refusal(f"There is no rule #{rule_id}.")
        spec = as_rule(rule)
    for inbound_id in inbound_ids:
        with session_scope(settings) as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None or not readable(row):
                continue
            raw = blobs.read(settings, row)
            envelope_to = row.envelope_to.split(",") if row.envelope_to else None
        analysis = analyse(raw, envelope_to, settings, [spec])
        if analysis.rule is None or analysis.rule.lead is None:
            continue
        with session_scope(settings) as session:
            row = lock_inbound(session, inbound_id)
            if row is None or not readable(row):
                continue
            row.outcome, row.reason, row.processed_at = InboundOutcome.PENDING, None, None
            outcome = process_inbound_message(
                session, inbound_id, now=now, settings=settings, analysis=analysis
            )
            done += outcome in (InboundOutcome.LEAD, InboundOutcome.DUPLICATE)
    return done
