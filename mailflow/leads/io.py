"""Leads from and to CSV/XLSX files (`mailflow leads import|export FILE`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailflow.clock import iso, now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.intake.row_problems import (
    describe_row,
    postcode_problem,
    problems_from_errors,
)
from mailflow.domain.intake.schema import LeadIn
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.models import Channel, InboundMessage, InboundOutcome, Lead, LeadStatus
from mailflow.tabular import read_rows, write_rows

CUSTOMER_COLUMNS = {
    "name": "name",
    "customer_name": "name",
    "customer.name": "name",
    "email": "email",
    "customer.email": "email",
    "e-mail": "email",
    "phone": "phone",
    "customer.phone": "phone",
    "telephone": "phone",
    "street": "street",
    "customer.street": "street",
    "address": "street",
    "postcode": "postcode",
    "customer.postcode": "postcode",
    "zip": "postcode",
    "postal_code": "postcode",
    "city": "city",
    "customer.city": "city",
    "country": "country",
    "customer.country": "country",
    "language": "language",
    "customer.language": "language",
    "reachability": "reachability",
    "customer.reachability": "reachability",
}
LEAD_COLUMNS = ("external_id", "source", "product", "building_type", "grid_connection", "message")
SKIPPED_ON_IMPORT = {
    "id",
    "status",
    "duplicate_of",
    "assigned_to",
    "created_at",
    "updated_at",
    "details",
}
EXPORT_COLUMNS = [
    "id",
    "status",
    "source",
    "external_id",
    "duplicate_of",
    "product",
    "building_type",
    "grid_connection",
    "name",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "country",
    "language",
    "reachability",
    "message",
    "assigned_to",
    "created_at",
    "updated_at",
    "details",
]


@dataclass
class RowResult:
    row: int
    outcome: str  # created | duplicate | already_imported | rejected
    lead_id: int | None = None
    reason: str | None = None
    problems: list[dict] = field(default_factory=list)  # why it was rejected (row_problems)


@dataclass
class Report:
    rows: list[RowResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    def summary(self) -> str:
        return ", ".join(
            f"{self.count(o)} {o.replace('_', ' ')}"
            for o in ("created", "duplicate", "already_imported", "rejected")
        )


def _number(text: str):
    try:
        value = float(text.replace(",", ".")) if any(c.isdigit() for c in text) else None
    except ValueError:
        return text
    if value is None:
        return text
    return int(value) if value.is_integer() else value


# A header may carry a note in brackets ("created_at (UTC)" in the XLSX export).
_HEADER_NOTE = re.compile(r"\s*\([^)]*\)$")


def row_to_payload(raw: dict[str, str]) -> dict:
    customer: dict[str, str] = {}
    payload: dict = {"customer": customer, "details": {}}
    for header, value in raw.items():
        column = _HEADER_NOTE.sub("", header)
        if value == "" or column in SKIPPED_ON_IMPORT:
            continue
        if column in CUSTOMER_COLUMNS:
            customer[CUSTOMER_COLUMNS[column]] = value
        elif column in LEAD_COLUMNS:
            payload[column] = value
        else:
            key = column.removeprefix("details.")
            lowered = value.lower()
            payload["details"][key] = (
                True
                if lowered in ("yes", "true", "oui", "ja", "tak")
                else False
                if lowered in ("no", "false", "non", "nein", "nie")
                else _number(value)
            )
    if raw.get("details"):
        try:
            payload["details"].update(json.loads(raw["details"]))
        except (json.JSONDecodeError, TypeError, ValueError):
            pass
    return payload


def check_lead_row(raw: dict[str, str], settings: Settings) -> tuple[dict, LeadIn | None, list]:
    """The row as a lead payload, the validated lead (None when rejected) and the problems in
    an admin's words."""
    payload = row_to_payload(raw)
    try:
        lead_in = LeadIn.model_validate(
            payload, context={"default_country": settings.default_country}
        )
    except ValidationError as exc:
        return payload, None, problems_from_errors(exc.errors(), payload)
    wrong = postcode_problem(lead_in.customer.postcode, lead_in.customer.country)
    if wrong is not None:
        return payload, None, [wrong]
    return payload, lead_in, []


def import_lead_row(
    session: Session, settings: Settings, number: int, raw: dict[str, str]
) -> RowResult:
    """One row of an import file, in the caller's transaction. A row imported before (the same
    cells, by a hash kept as the intake's deduplication key) is not imported again, so running
    an import twice, or resuming one that stopped, creates each lead once."""
    payload, lead_in, problems = check_lead_row(raw, settings)
    if lead_in is None:
        return RowResult(
            number, "rejected", reason=describe_row(number, problems), problems=problems
        )
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    key = "import:" + hashlib.sha256(body).hexdigest()
    known = session.scalar(select(InboundMessage).where(InboundMessage.dedup_key == key))
    if known is not None:
        return RowResult(
            number, "already_imported", known.lead_id, "the same row was imported before"
        )
    at = now()
    inbound = InboundMessage(
        channel=Channel.IMPORT, dedup_key=key, size=len(body), raw=body, received_at=at
    )
    session.add(inbound)
    session.flush()
    lead = create_lead(
        session,
        lead_in,
        now=at,
        source="import",
        channel="import",
        inbound_id=inbound.id,
        window_days=settings.duplicate_window_days,
    )
    inbound.lead_id = lead.id
    inbound.processed_at = at
    duplicate = lead.status == LeadStatus.DUPLICATE
    inbound.outcome = InboundOutcome.DUPLICATE if duplicate else InboundOutcome.LEAD
    session.flush()
    lead_created(session, lead, now=at, settings=settings)
    return RowResult(
        number,
        "duplicate" if duplicate else "created",
        lead.id,
        f"duplicate of lead {lead.duplicate_of_id}" if duplicate else None,
    )


def import_leads(
    path: Path, settings: Settings, progress: Callable[[int], None] | None = None
) -> Report:
    """Every row of ``path``, each in its own transaction (the CLI's import; the admin pages
    run the same rows as a background job, ``mailflow.leads.imports``). ``progress`` is called
    with the number of rows done."""
    report = Report()
    for number, raw in read_rows(path):
        with session_scope(settings) as session:
            report.rows.append(import_lead_row(session, settings, number, raw))
        if progress is not None:
            progress(len(report.rows))
    return report


def export_row(lead: Lead) -> list:
    """One lead under ``EXPORT_COLUMNS`` (the CLI's and the admin pages' exports)."""
    return [
        lead.id,
        lead.status.value,
        lead.source,
        lead.external_id,
        lead.duplicate_of_id,
        lead.product,
        lead.building_type,
        lead.grid_connection,
        lead.customer_name,
        lead.email,
        lead.phone,
        lead.street,
        lead.postcode,
        lead.city,
        lead.country,
        lead.language,
        lead.reachability,
        lead.message,
        lead.assigned_installer.email if lead.assigned_installer else None,
        iso(lead.created_at),
        iso(lead.updated_at),
        json.dumps(lead.details or {}, ensure_ascii=False),
    ]


def export_leads(path: Path, settings: Settings) -> int:
    with session_scope(settings) as session:
        leads = session.scalars(
            select(Lead).options(selectinload(Lead.assigned_installer)).order_by(Lead.id)
        )
        return write_rows(path, EXPORT_COLUMNS, map(export_row, leads), title="Leads")
