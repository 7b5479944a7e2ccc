"""The saved extraction rules as the intake reads them, and their counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, func, select, update
from sqlalchemy.orm import Session

from mailflow.domain.intake.extraction import locators_from_json
from mailflow.domain.intake.extraction_rules import Rule, RuleRead
from mailflow.models import ExtractionRule


def as_rule(row: ExtractionRule) -> Rule:
    return Rule(row.id, row.sender, row.subject_pattern, tuple(locators_from_json(row.locators)))


def load_rules(session: Session) -> tuple[Rule, ...]:
    """Every rule, as plain values (read in one transaction, used outside it)."""
    return tuple(as_rule(row) for row in session.scalars(select(ExtractionRule)))


def rules_column(postgres: bool):
    """Every rule as one JSON value (a list of [id, sender, subject pattern, locators], or
    NULL when there is none): a column to read beside another row, so that the inbound job
    reads its message and the rules in one statement (#21). ``rules_from`` reads it back."""
    rule = ExtractionRule
    if postgres:
        entry = func.json_build_array(rule.id, rule.sender, rule.subject_pattern, rule.locators)
        rules = func.json_agg(entry, type_=JSON)
    else:  # SQLite stores JSON as text: json() keeps the locators a value, not a string
        entry = func.json_array(
            rule.id, rule.sender, rule.subject_pattern, func.json(rule.locators)
        )
        rules = func.json_group_array(entry, type_=JSON)
    return select(rules).scalar_subquery()


def rules_from(value: list | None) -> tuple[Rule, ...]:
    """The rules of a ``rules_column`` value."""
    return tuple(
        Rule(rule_id, sender, pattern, tuple(locators_from_json(locators)))
        for rule_id, sender, pattern, locators in value or ()
    )


def count_read(session: Session, read: RuleRead, *, now: datetime) -> None:
    """A message read by a rule counts on it; one it could not read counts as a failure."""
    table = ExtractionRule.__table__
    if read.lead is not None:
        values = {"messages_read": table.c.messages_read + 1, "last_used_at": now}
    else:
        fields = ", ".join(read.failed_fields) or "the lead"
        values = {"failures": table.c.failures + 1, "last_failure": f"could not read: {fields}"}
    session.execute(update(ExtractionRule).where(ExtractionRule.id == read.rule_id).values(values))
