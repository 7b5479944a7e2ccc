"""Turn a stored inbound message into its outcome: a lead, a duplicate, a bounce, an
auto-reply (bulk mail too), a reply to one of our messages, or quarantine with a reason.
Idempotent: a message already processed is left alone, so Dramatiq's at-least-once delivery and
the sweep can both call it."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import getaddresses
from functools import cache, partial

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import get_engine, is_postgres, log_failure, session_scope
from mailflow.domain.intake import replies
from mailflow.domain.intake.extraction_rules import Rule, RuleRead, read_with_rules
from mailflow.domain.intake.headers import headers_of
from mailflow.domain.intake.mime import MessageTooComplex, check_complexity
from mailflow.domain.intake.parse import ParseResult, parse_message
from mailflow.domain.intake.quotes import referenced_ids
from mailflow.infra import blobs
from mailflow.infra.enqueue import enqueue_on_commit
from mailflow.intake import bounces
from mailflow.intake.rule_store import count_read, load_rules, rules_column, rules_from
from mailflow.leads.intake_limit import route_or_hold
from mailflow.leads.service import add_event, create_lead
from mailflow.models import (
    Channel,
    InboundMessage,
    InboundOutcome,
    Lead,
    LeadStatus,
    OutboxMessage,
    appends,
)
from mailflow.routing.replies import handle_reply, handle_thread_reply

log = logging.getLogger(__name__)


# Messages up to this size are parsed inside the transaction that holds their row (PostgreSQL;
# a lead is a few kB and parses in about 2 ms); a bigger one is parsed between two
# transactions, so that no transaction stays open while it is read.
PARSE_IN_TRANSACTION = 64 * 1024


def lock_inbound(session: Session, inbound_id: int) -> InboundMessage | None:
    query = select(InboundMessage).where(InboundMessage.id == inbound_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


@cache
def _lock_with_rules_statement(postgres: bool) -> Select:
    # Built once: a statement built per call costs more CPU than its round trip (#21).
    query = select(InboundMessage, rules_column(postgres)).where(
        InboundMessage.id == bindparam("inbound_id")
    )
    return query.with_for_update(of=InboundMessage) if postgres else query


def lock_inbound_with_rules(
    session: Session, inbound_id: int
) -> tuple[InboundMessage | None, tuple[Rule, ...]]:
    """``lock_inbound`` and the saved extraction rules, in one statement."""
    query = _lock_with_rules_statement(is_postgres(session))
    found = session.execute(query, {"inbound_id": inbound_id}).first()
    return (found[0], rules_from(found[1])) if found is not None else (None, ())


@dataclass(frozen=True)
class Analysis:
    """What a message is, worked out without the database (parsing a big message takes a
    while, and no transaction should be open meanwhile)."""

    raw: bytes | None
    envelope_to: list[str] | None
    has_nul: bool = False
    reply_token: str | None = None
    result: ParseResult | None = None
    rule: RuleRead | None = None  # what a saved extraction rule read, when one matched
    references: tuple[str, ...] = ()  # Message-IDs named by In-Reply-To, then References


def analyse(
    raw: bytes | None,
    envelope_to: list[str] | None,
    settings: Settings,
    rules: Sequence[Rule] = (),
) -> Analysis:
    if raw is None:
        return Analysis(None, envelope_to)
    if b"\x00" in raw:
        return Analysis(raw, envelope_to, has_nul=True)
    try:
        check_complexity(raw)
        token = replies.reply_token(replies.reply_addresses(raw, envelope_to))
        references = tuple(referenced_ids(headers_of(raw)))
    except MessageTooComplex:
        token, references = None, ()  # the parser quarantines it; not read as a reply either
    result = parse_message(raw, default_country=settings.default_country, envelope_to=envelope_to)
    read = None
    if rules and token is None and result.kind in ("lead", "quarantine"):
        # a source's saved rule reads its mail before the general parser's lead counts
        # (bounces and auto-replies stay what they are); a rule that fails leaves the parser's
        # result, with why
        read = read_with_rules(raw, rules, settings.default_country)
        if read is not None and read.lead is not None:
            info = {k: v for k, v in result.info.items() if k != "candidate"}
            result = ParseResult("lead", lead=read.lead, info={**info, "rule": read.rule_id})
        elif read is not None:
            info = {**result.info, "rule_failed": {"rule": read.rule_id, "reason": read.error}}
            result = replace(result, info=info)
    return Analysis(
        raw, envelope_to, reply_token=token, result=result, rule=read, references=references
    )


def _envelope_to(row: InboundMessage) -> list[str] | None:
    return row.envelope_to.split(",") if row.envelope_to else None


def process_one(inbound_id: int, *, now: datetime, settings: Settings) -> InboundOutcome | None:
    """Read, analyse, then apply (the inbound job and the sweep's catch-up). On PostgreSQL a
    message of ordinary size is analysed in the transaction that read it with its lock: one
    transaction; a big one, and any on SQLite (whose one writer would wait for the parse), is
    analysed outside any transaction, then applied in a short one. A new lead is routed in the
    transaction that creates it: its offer is queued with it, no routing job follows. Should
    anything in it fail, the transaction is rolled back and applied again without routing,
    which ``route_lead_job`` then does after commit: a routing bug or a lock timeout never
    holds the lead back."""

    analysis = None
    apply = partial(process_inbound_message, now=now, settings=settings, route_inline=True)
    try:
        # Both transactions on one connection: one pool checkout (and its pre-ping).
        with get_engine(settings).connect() as connection:
            with session_scope(settings, connection=connection) as session:
                row, rules = lock_inbound_with_rules(session, inbound_id)
                if (
                    row is None
                    or row.outcome != InboundOutcome.PENDING
                    or row.channel == Channel.WEBHOOK
                ):
                    return None
                raw, envelope_to = blobs.read(settings, row), _envelope_to(row)
                if is_postgres(session) and len(raw or b"") <= PARSE_IN_TRANSACTION:
                    # A message of ordinary size is parsed in the transaction that holds its
                    # row (PostgreSQL: other writers do not wait for it): one transaction.
                    # Its timeline events, routing decisions and link nonces, which it never
                    # reads back, are written by Core before the commit (models.appends).
                    appends.defer(session)
                    analysis = analyse(raw, envelope_to, settings, rules)
                    return apply(session, inbound_id, analysis=analysis, locked=row)
            analysis = analyse(raw, envelope_to, settings, rules)
            with session_scope(settings, connection=connection) as session:
                return apply(session, inbound_id, analysis=analysis)
    except Exception:
        if analysis is None or analysis.result is None or analysis.result.kind != "lead":
            raise  # no lead, so no routing: the job's retries handle it
        log_failure(
            log,
            "inbound message %s: processing with its lead's routing failed; processed again, "
            "the routing left to route_lead_job",
            inbound_id,
        )
    with session_scope(settings) as session:
        return process_inbound_message(
            session, inbound_id, now=now, settings=settings, analysis=analysis
        )


def process_inbound_message(
    session: Session,
    inbound_id: int,
    *,
    now: datetime,
    settings: Settings,
    analysis: Analysis | None = None,
    route_inline: bool = False,
    locked: InboundMessage | None = None,
) -> InboundOutcome | None:
    """Process one message inside the caller's transaction. Returns the outcome, or None when
    there was nothing to do (unknown id, already processed). ``route_inline``: a new lead is
    offered in this transaction (see :func:`process_one`), else by ``route_lead_job``.
    ``locked``: the row, already read with its lock in this transaction."""
    row = locked if locked is not None else lock_inbound(session, inbound_id)
    if row is None or row.outcome != InboundOutcome.PENDING:
        return None
    if row.channel == Channel.WEBHOOK:
        return None  # webhooks are processed synchronously by the API
    row.attempts += 1
    if analysis is None:
        analysis = analyse(
            blobs.read(settings, row), _envelope_to(row), settings, load_rules(session)
        )
    if analysis.raw is None:
        return _finish(row, InboundOutcome.QUARANTINED, now, reason="raw message missing")
    if analysis.has_nul:
        # NUL is never valid in a message (RFC 5322): someone's mailer is broken; a human looks.
        return _finish(
            row,
            InboundOutcome.QUARANTINED,
            now,
            reason="message contains NUL bytes, which are not allowed in email",
        )
    if analysis.reply_token is not None:
        return process_reply(session, row, analysis, now=now, settings=settings)
    if analysis.references and analysis.result.kind not in ("bounce", "auto_reply"):
        answered = our_message(session, analysis.references)
        if answered is not None:
            return process_thread_reply(
                session, row, analysis, answered, now=now, settings=settings
            )
    result = analysis.result
    row.parsed = {"kind": result.kind, **(result.info or {})}
    if analysis.rule is not None:
        count_read(session, analysis.rule, now=now)
    return apply_result(
        session,
        row,
        result,
        now=now,
        settings=settings,
        raw=analysis.raw,
        route_inline=route_inline,
    )


def apply_result(
    session: Session,
    row: InboundMessage,
    result: ParseResult,
    *,
    now: datetime,
    settings: Settings,
    raw: bytes,
    route_inline: bool = False,
) -> InboundOutcome:
    if result.kind == "lead" and result.lead is not None:
        source = "email"
        lead = create_lead(
            session,
            result.lead,
            now=now,
            source=source,
            channel=row.channel.value,
            inbound_id=row.id,
            window_days=settings.duplicate_window_days,
            write_later=True,
        )
        row.lead_id = lead.id
        outcome = (
            InboundOutcome.DUPLICATE if lead.status == LeadStatus.DUPLICATE else InboundOutcome.LEAD
        )
        _finish(row, outcome, now)
        # The lead and this row (counters, outcome) are written by the flush that writes the
        # lead's offer, or by the commit's: the lead's row once, with its status (#21). No read
        # of routing's needs them written (nor flushes them: a read would write the lead
        # before its status is known).
        with session.no_autoflush:
            route_or_hold(
                session, lead, row, now=now, settings=settings, raw=raw, route_inline=route_inline
            )
        return outcome
    if result.kind == "bounce" and result.bounce is not None:
        return record_bounce(session, row, result, now=now, settings=settings)
    if result.kind == "auto_reply":
        # bulk mail is linked to our message only by reference, never by its sender
        record_auto_reply(session, row, raw, now=now, by_sender="bulk" not in (result.info or {}))
        return _finish(row, InboundOutcome.AUTO_REPLY, now, reason=result.reason or "auto-reply")
    if result.kind == "reply":
        return _finish(row, InboundOutcome.REPLY, now, reason=result.reason)
    return _finish(
        row, InboundOutcome.QUARANTINED, now, reason=result.reason or "message could not be parsed"
    )


def record_bounce(
    session: Session, row: InboundMessage, result: ParseResult, *, now: datetime, settings: Settings
) -> InboundOutcome:
    """A bounce acts only on a message we verifiably sent (``mailflow/intake/bounces.py``)."""

    reason = bounces.record_bounce(session, row, result.bounce, now=now, settings=settings)
    return _finish(row, InboundOutcome.BOUNCE, now, reason=reason)


def rerun_inbound(session: Session, inbound_id: int) -> bool:
    """Admin action after a parser fix: a quarantined message is processed again."""
    row = session.get(InboundMessage, inbound_id)
    if row is None or row.outcome != InboundOutcome.QUARANTINED or row.channel == Channel.WEBHOOK:
        return False
    row.outcome, row.reason, row.processed_at = InboundOutcome.PENDING, None, None
    enqueue_on_commit(session, "process_inbound", row.id)
    return True


def process_reply(
    session: Session, row: InboundMessage, analysis: Analysis, *, now: datetime, settings: Settings
) -> InboundOutcome:
    """A reply to an offer email. Acting on it happens in a savepoint, so a refused answer
    leaves nothing half-done while the inbound row still records the outcome."""

    raw, token, result = analysis.raw, analysis.reply_token, analysis.result
    is_auto = result.kind in ("auto_reply", "bounce")
    if result.kind == "bounce" and result.bounce is not None:
        return record_bounce(session, row, result, now=now, settings=settings)
    savepoint = session.begin_nested()
    try:
        outcome = handle_reply(
            session, raw, token, is_auto_reply=is_auto, now=now, settings=settings
        )
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        raise
    if is_auto:
        record_auto_reply(session, row, raw, now=now)
        return _finish(row, InboundOutcome.AUTO_REPLY, now, reason=outcome.reason)
    return _finish(row, InboundOutcome.REPLY, now, reason=outcome.reason)


def our_message(session: Session, references: tuple[str, ...]) -> OutboxMessage | None:
    """The message we sent that a reply names: In-Reply-To's first, else the latest of
    References."""
    found = {
        m.message_id: m
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id.in_(references[:50]))
        )
    }
    if not found:
        return None
    return found.get(references[0]) or found[max(found, key=references.index)]


def process_thread_reply(
    session: Session,
    row: InboundMessage,
    analysis: Analysis,
    answered: OutboxMessage,
    *,
    now: datetime,
    settings: Settings,
) -> InboundOutcome:
    """A reply to one of our messages that came without the reply token (to the plain intake
    address): never a lead. It goes on the lead's timeline; an answer to an offer acts only as
    a token reply would (``routing.replies.handle_thread_reply``)."""
    raw = analysis.raw
    savepoint = session.begin_nested()
    try:
        outcome = handle_thread_reply(session, raw, answered, now=now, settings=settings)
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        raise
    headers = headers_of(raw)
    sender = next(
        (addr.lower() for _, addr in getaddresses([str(headers.get("From") or "")]) if addr), None
    )
    row.parsed = {
        "kind": "reply",
        **(analysis.result.info or {}),
        "reply_to_outbox": answered.id,
        "parsed_as": analysis.result.kind,
    }
    lead = session.get(Lead, answered.lead_id) if answered.lead_id else None
    if lead is not None:
        row.lead_id = lead.id
        add_event(
            session,
            lead,
            "email_reply",
            at=now,
            sender=sender,
            outbox_id=answered.id,
            template=answered.template,
            inbound_id=row.id,
            subject=str(headers.get("Subject") or "")[:200],
            result=outcome.reason[:300],
        )
    return _finish(row, InboundOutcome.REPLY, now, reason=outcome.reason)


def record_auto_reply(
    session: Session, row: InboundMessage, raw: bytes, *, now: datetime, by_sender: bool = True
) -> None:
    """An out-of-office to one of our messages goes on that lead's timeline. It is never an
    answer to an offer: nothing else changes."""

    headers = headers_of(raw)
    referenced = re.findall(
        r"<[^<>\s]+>",
        " ".join(str(headers.get(name) or "") for name in ("In-Reply-To", "References")),
    )
    outbox = None
    if referenced:
        outbox = session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.message_id.in_(referenced))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    sender = next(
        (addr.lower() for _, addr in getaddresses([str(headers.get("From") or "")]) if addr), None
    )
    if outbox is None and sender and by_sender:
        outbox = session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.to == sender, OutboxMessage.created_at >= now - timedelta(days=14))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    if outbox is None:
        return
    outbox.auto_reply_at = now
    row.parsed = {**(row.parsed or {}), "auto_reply_to_outbox": outbox.id}
    lead = session.get(Lead, outbox.lead_id) if outbox.lead_id else None
    if lead is not None:
        row.lead_id = lead.id
        add_event(
            session,
            lead,
            "auto_reply",
            at=now,
            sender=sender,
            outbox_id=outbox.id,
            subject=str(headers.get("Subject") or "")[:200],
        )


def _finish(
    row: InboundMessage, outcome: InboundOutcome, now: datetime, *, reason: str | None = None
) -> InboundOutcome:
    row.outcome = outcome
    row.reason = reason
    row.processed_at = now
    return outcome
