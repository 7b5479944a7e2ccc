"""Where a customer's personal data is stored, and how each place is erased: the one list that
``mailflow.leads.privacy.erase_customer`` walks.

Every text, JSON or binary column of every table is either in ``ERASURES`` (personal: erased
this way) or in ``NOT_PERSONAL`` (with the reason). ``tests/integration/test_privacy_erase.py``
fails when a column is in neither, so a new column cannot be added without deciding.

Free text in JSON (timeline events, the installer's progress, timers, audit entries) is erased
by an allow-list: numbers and booleans stay (figures, ids, marks), strings stay only under keys
that hold the system's own vocabulary (statuses, channels, dates, installer addresses); every
other string goes. A new key with free text is therefore erased without anyone remembering it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import (
    AuditEntry,
    Base,
    ImportRejection,
    InboundMessage,
    InboundOutcome,
    Lead,
    LeadDocument,
    LeadEvent,
    LeadNote,
    LeadReturn,
    LeadSearchTerm,
    Offer,
    OutboxMessage,
    OutboxState,
    SavedFilter,
    SiteVisit,
    Survey,
    Timer,
)

ERASED = "[erased]"
ERASED_ADDRESS = "erased@erased.invalid"
# The reason of a lapsed reservation counts against the installer's score (ratings.service
# looks for "lapsed"): the fact stays, the words around it go.
LAPSED = "reservation lapsed"

# Keys whose string values are the system's vocabulary, never the customer's or someone's words.
VOCABULARY_KEYS = frozenset(
    {
        "status",
        "previous",
        "previous_status",
        "via",
        "channel",
        "source",
        "kind",
        "type",
        "installer",
        "previous_installer",
        "by",
        "date",
        "installation_date",
        "currency",
        "deadline",
        "starts_at",
        "fields",
        "tier",
        "outcome",
        "language",
        "product",
        "decline_reason",
    }
)
# The project figures of a lead (PRODUCT.md §2) stay for the statistics; ``extra`` holds
# whatever else the form asked, under its own labels, and goes.
DETAIL_KEYS = frozenset(
    {
        "household_size",
        "annual_consumption_kwh",
        "electricity_price_ct_kwh",
        "main_consumption",
        "roof_area_m2",
        "roof_pitch_deg",
        "roof_orientation_deg",
        "module",
        "module_count",
        "storage_interest",
        "battery",
        "heat_pump",
        "cost_monthly_with_pv",
        "cost_monthly_without_pv",
        "savings_monthly",
        "savings_yearly",
        "savings_20y",
        "co2_savings_kg",
        "trees",
    }
)


@dataclass
class Customer:
    """Whose data is erased: their leads, the raw messages that brought them, their addresses
    and the strings that identify them (to recognise them in free text such as errors)."""

    settings: Settings
    lead_ids: list[int]
    inbound_ids: set[int]
    addresses: set[str]
    identifiers: set[str]
    counts: dict[str, int] = field(default_factory=dict)

    def mentioned_in(self, text: str | None) -> bool:
        folded = (text or "").casefold()
        return any(identifier in folded for identifier in self.identifiers)


def scrub(value: Any, keep: frozenset[str] = VOCABULARY_KEYS, key: str | None = None) -> Any:
    """The allow-list erasure of a JSON value (see the module's description)."""
    if isinstance(value, dict):
        return {k: scrub(v, keep, k) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, keep, key) for v in value]
    if isinstance(value, str):
        if key == "reason" and "lapsed" in value:
            return LAPSED
        return value if key in keep else None
    return value


Eraser = Callable[[Any, Any, Customer], Any]


def clear(value, row, customer):
    return None


def anonymise(value, row, customer):
    return ERASED


def empty_dict(value, row, customer):
    return {}


def scrubbed(value, row, customer):
    return scrub(value) if value else value


def scrubbed_details(value, row, customer):
    return scrub(
        {k: v for k, v in (value or {}).items() if k != "extra"}, VOCABULARY_KEYS | DETAIL_KEYS
    )


def erased_if_mentioned(value, row, customer):
    return ERASED if value and customer.mentioned_in(value) else value


def _search_term_dropped(value, row, customer):
    """A saved filter's query string loses its search term (``q``) when it names the
    customer; the other parameters (statuses, dates, columns) are not about anyone."""
    pairs = parse_qsl(value or "", keep_blank_values=True)
    if not any(key == "q" and customer.mentioned_in(text) for key, text in pairs):
        return value
    return urlencode([(key, text) for key, text in pairs if key != "q"])


def _is_customer_mail(row: OutboxMessage, customer: Customer) -> bool:
    return (row.to or "").lower() in customer.addresses or row.to == ERASED_ADDRESS


def recipient(value, row, customer):
    return ERASED_ADDRESS if _is_customer_mail(row, customer) else value


def raw_file(value, row, customer):
    if value:
        _drop_blob(customer.settings, value, row)
    return None


def erased_parse(value, row, customer):
    return {"kind": (value or {}).get("kind"), "erased": True}


@dataclass(frozen=True)
class TableErasure:
    model: type[Base]
    rows: Callable[[Customer], Select]
    columns: dict[str, Eraser] = field(default_factory=dict)
    # Rows deleted outright (every text column goes with them); ``on_delete`` removes files.
    delete: bool = False
    on_delete: Callable[[Any, Customer], None] | None = None
    after: Callable[[Any, Customer], None] | None = None

    @property
    def table(self) -> str:
        return self.model.__tablename__


def _of_leads(model) -> Callable[[Customer], Select]:
    return lambda c: select(model).where(model.lead_id.in_(c.lead_ids)).order_by(model.id)


def _inbound_rows(c: Customer) -> Select:
    # Bounces of mail to the customer come from their provider's mailer, about their address:
    # found by the address in the reason (bounces are few; their outcome is indexed).
    bounced = [func.lower(InboundMessage.reason).contains(a) for a in c.addresses]
    return select(InboundMessage).where(
        or_(
            InboundMessage.lead_id.in_(c.lead_ids),
            InboundMessage.id.in_(c.inbound_ids),
            func.lower(InboundMessage.envelope_from).in_(c.addresses),
            and_(InboundMessage.outcome == InboundOutcome.BOUNCE, or_(false(), *bounced)),
        )
    )


def _outbox_rows(c: Customer) -> Select:
    return select(OutboxMessage).where(
        or_(OutboxMessage.lead_id.in_(c.lead_ids), func.lower(OutboxMessage.to).in_(c.addresses))
    )


def _audit_rows(c: Customer) -> Select:
    return select(AuditEntry).where(
        AuditEntry.object_type == "lead", AuditEntry.object_id.in_([str(i) for i in c.lead_ids])
    )


def _stop_unsent(row: OutboxMessage, customer: Customer) -> None:
    # Its text is gone: what was not sent yet is not sent at all.
    if row.state in (OutboxState.QUEUED, OutboxState.FAILED):
        row.state = OutboxState.CANCELLED
        row.next_attempt_at = None


def _delete_document_file(document: LeadDocument, customer: Customer) -> None:
    path = customer.settings.data_path / "documents" / str(int(document.lead_id))
    try:
        (path / document.stored_name).unlink(missing_ok=True)
    except OSError:
        pass


def _drop_blob(settings: Settings, relative: str, row: InboundMessage) -> None:
    """Delete a raw message's file unless another row still points to it (blobs are named by
    their content)."""
    session = Session.object_session(row)
    shared = session.scalar(
        select(func.count()).where(InboundMessage.raw_path == relative, InboundMessage.id != row.id)
    )
    if shared:
        return
    try:
        (settings.data_path / Path(relative)).unlink(missing_ok=True)
    except OSError:
        pass


def _lead_rows(c: Customer) -> Select:
    return select(Lead).where(Lead.id.in_(c.lead_ids)).order_by(Lead.id)


ERASURES: tuple[TableErasure, ...] = (
    TableErasure(
        Lead,
        _lead_rows,
        {
            "customer_name": anonymise,
            "email": clear,
            "phone": clear,
            "street": clear,
            "reachability": clear,
            "message": clear,
            "details": scrubbed_details,
            "progress": scrubbed,
        },
    ),
    TableErasure(LeadEvent, _of_leads(LeadEvent), {"data": scrubbed}),
    TableErasure(Timer, _of_leads(Timer), {"data": scrubbed}),
    TableErasure(Offer, _of_leads(Offer), {"decline_note": clear}),
    TableErasure(SiteVisit, _of_leads(SiteVisit), {"address": clear, "note": clear}),
    TableErasure(Survey, _of_leads(Survey), {"comment": clear}),
    # A bad-lead report's note: the installer's words about the customer (#20).
    TableErasure(LeadReturn, _of_leads(LeadReturn), {"note": clear}),
    TableErasure(LeadNote, _of_leads(LeadNote), {"author": clear, "body": clear}, delete=True),
    TableErasure(
        LeadDocument,
        _of_leads(LeadDocument),
        {
            "filename": clear,
            "stored_name": clear,
            "content_type": clear,
            "sha256": clear,
            "uploaded_by": clear,
        },
        delete=True,
        on_delete=_delete_document_file,
    ),
    # Rebuilt from the anonymised lead by ``search.reindex`` (see privacy.erase_customer).
    TableErasure(
        LeadSearchTerm,
        lambda c: select(LeadSearchTerm).where(LeadSearchTerm.lead_id.in_(c.lead_ids)),
        {"term": clear},
        delete=True,
    ),
    TableErasure(
        InboundMessage,
        _inbound_rows,
        {
            "raw": clear,
            "raw_path": raw_file,
            "envelope_from": clear,
            "parsed": erased_parse,
            "reason": erased_if_mentioned,
        },
    ),
    TableErasure(
        OutboxMessage,
        _outbox_rows,
        {
            "to": recipient,
            "subject": anonymise,
            "body_text": clear,
            "body_html": clear,
            "headers": empty_dict,
            "attachments": clear,
            "raw": clear,
            "last_error": erased_if_mentioned,
        },
        after=_stop_unsent,
    ),
    TableErasure(AuditEntry, _audit_rows, {"summary": erased_if_mentioned, "data": scrubbed}),
    # An admin may save a search for a customer's name: saved filters are few, all are read.
    TableErasure(
        SavedFilter,
        lambda c: select(SavedFilter).order_by(SavedFilter.id),
        {"query": _search_term_dropped, "name": erased_if_mentioned},
    ),
    # A row an import rejected (no lead was made of it): found by its email address.
    TableErasure(
        ImportRejection,
        lambda c: (
            select(ImportRejection)
            .where(ImportRejection.email.in_(sorted(a.lower() for a in c.addresses) or [""]))
            .order_by(ImportRejection.id)
        ),
        {"data": clear, "reasons": clear, "email": clear},
        delete=True,
    ),
)

_CUSTOMER_SIDE = "the installer's or admin's own data, not a customer's"
NOT_PERSONAL: dict[tuple[str, str], str] = {
    ("leads", "source"): "the channel's name",
    ("leads", "exchange_reason"): "vocabulary (why the lead is in the exchange)",
    ("admin_alerts", "kind"): "vocabulary",
    ("admin_alerts", "title"): "the lead's number",
    (
        "admin_alerts",
        "message",
    ): "product and area (postcode, city, country), as kept for statistics",
    ("leads", "external_id"): "the lead platform's reference (statistics, re-imports)",
    ("leads", "product"): "vocabulary",
    ("leads", "building_type"): "vocabulary",
    ("leads", "grid_connection"): "vocabulary",
    ("leads", "postcode"): "kept for the statistics (area, not address)",
    ("leads", "city"): "kept for the statistics (area, not address)",
    ("leads", "country"): "kept for the statistics",
    ("leads", "language"): "kept for the statistics",
    ("lead_events", "type"): "vocabulary",
    ("timers", "kind"): "vocabulary",
    ("offers", "decline_reason"): "vocabulary (DECLINE_REASONS)",
    ("offers", "routing_reason"): "the system's text about installers",
    ("lead_returns", "reason"): "vocabulary (domain/returns.REASONS)",
    ("lead_returns", "via"): "vocabulary",
    ("lead_returns", "state"): "vocabulary",
    ("lead_returns", "rule"): "vocabulary",
    ("lead_returns", "outcome"): "vocabulary",
    ("lead_returns", "decided_by"): 'an admin\'s address or "rule": ' + _CUSTOMER_SIDE,
    ("routing_decisions", "kind"): "vocabulary",
    ("routing_decisions", "reason"): "vocabulary (domain/routing_why.REASON_TEXTS)",
    ("routing_decisions", "candidates"): "installer ids, reason codes and routing figures: "
    + _CUSTOMER_SIDE,
    ("routing_decisions", "rest"): "reason codes and counts",
    ("site_visits", "uid"): "random calendar id",
    ("inbound_messages", "dedup_key"): "needed to recognise a re-sent message; a Message-ID, "
    "a hash or an idempotency key, written by the sender's software",
    ("inbound_messages", "message_id"): "written by the sender's software",
    ("inbound_messages", "envelope_to"): "our own intake or reply address",
    ("outbox", "template"): "vocabulary",
    ("outbox", "language"): "vocabulary",
    ("outbox", "message_id"): "generated by us",
    ("outbox", "channel"): "vocabulary",
    ("installers", "webhook_secret"): "random, generated by us (an installer's signing key)",
    ("audit_log", "actor"): _CUSTOMER_SIDE,
    ("audit_log", "action"): "vocabulary",
    ("audit_log", "object_type"): "vocabulary",
    ("audit_log", "object_id"): "an id",
    ("audit_log", "ip"): _CUSTOMER_SIDE,
    ("webhook_keys", "key"): "an idempotency key chosen by the sender's software",
    ("import_jobs", "kind"): "vocabulary",
    ("import_jobs", "status"): "vocabulary",
    ("import_jobs", "filename"): "the name an admin gave the file: " + _CUSTOMER_SIDE,
    ("import_jobs", "stored_name"): "random; the file is deleted when its import has run",
    ("import_jobs", "columns"): "the file's column names",
    ("import_jobs", "error"): "why a file could not be read (its format, its size)",
    ("import_jobs", "created_by"): _CUSTOMER_SIDE,
    ("extraction_rules", "sender"): "a lead platform's address or domain",
    ("extraction_rules", "subject_pattern"): "written by an admin: " + _CUSTOMER_SIDE,
    ("extraction_rules", "locators"): "a platform's labels and fixed text; constants an admin "
    "chose for every message of that source",
    ("extraction_rules", "created_by"): _CUSTOMER_SIDE,
    ("extraction_rules", "last_failure"): "the names of the fields a rule could not read",
    ("webhook_keys", "body_sha256"): "a hash",
    ("link_nonces", "nonce"): "random",
    ("link_nonces", "purpose"): "vocabulary",
    ("installer_sessions", "id"): "random",
    ("admin_sessions", "id"): "random",
    ("admin_sessions", "password_fingerprint"): _CUSTOMER_SIDE,
    ("login_throttle", "key"): "an admin's sign-in address or a client address: " + _CUSTOMER_SIDE,
    ("webhook_signatures", "signature"): "an HMAC, not the body",
    ("bounce_events", "recipient"): "an installer's address (bounces are kept for installers "
    "only): " + _CUSTOMER_SIDE,
    ("bounce_events", "status"): "vocabulary (an RFC 3463 status code)",
    ("bounce_events", "diagnostic"): "the receiving server's words about an installer's "
    "address: " + _CUSTOMER_SIDE,
    ("installer_sessions", "csrf_token"): "random",
    ("service_status", "name"): "vocabulary",
    ("service_status", "data"): "health figures of the service",
    ("tier_changes", "old_tier"): _CUSTOMER_SIDE,
    ("tier_changes", "new_tier"): _CUSTOMER_SIDE,
    ("tier_changes", "by"): _CUSTOMER_SIDE,
    ("tier_changes", "reason"): _CUSTOMER_SIDE,
    **{
        ("installers", name): _CUSTOMER_SIDE
        for name in (
            "email",
            "name",
            "company",
            "language",
            "country",
            "timezone",
            "working_hours",
            "postcodes",
            "tier",
            "bounce_reason",
            "phone",
            "score_details",
            "webhook_url",
        )
    },
    **{
        ("admin_users", name): _CUSTOMER_SIDE
        for name in ("email", "password_hash", "role", "language")
    },
}


def personal_columns() -> set[tuple[str, str]]:
    return {(e.table, column) for e in ERASURES for column in e.columns}


def erase_rows(session: Session, customer: Customer, erasures: Iterable[TableErasure] = ERASURES):
    """Walk every place of ``ERASURES`` for this customer; ``customer.counts`` says how many
    rows of each table were erased."""
    for erasure in erasures:
        rows = list(session.scalars(erasure.rows(customer)))
        for row in rows:
            if erasure.delete:
                if erasure.on_delete is not None:
                    erasure.on_delete(row, customer)
                session.delete(row)
                continue
            for column, eraser in erasure.columns.items():
                setattr(row, column, eraser(getattr(row, column), row, customer))
            if erasure.after is not None:
                erasure.after(row, customer)
        customer.counts[erasure.table] = customer.counts.get(erasure.table, 0) + len(rows)
        session.flush()


__all__ = [
    "ERASED",
    "ERASED_ADDRESS",
    "ERASURES",
    "NOT_PERSONAL",
    "Customer",
    "erase_rows",
    "personal_columns",
    "scrub",
]
