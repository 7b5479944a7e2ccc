"""Retention: raw inbound messages and the bodies of sent mail are kept for a limited time.

``MAILFLOW_RETENTION_INBOUND_DAYS`` (default 365): older raw inbound messages lose their bytes
(database column or file under the data directory) and the customer data the parser read from
them; the row, its outcome, its reason and its lead stay. Messages still pending stay whole.

``MAILFLOW_RETENTION_SENT_MAIL_DAYS`` (default 180): older sent or bounced outgoing messages
lose their bodies (text, HTML, MIME, attachments); recipient, subject, state and times stay.

0 keeps them forever. The scheduler runs the purge (sweep job ``retention``) at most every
``MAILFLOW_RETENTION_SWEEP_EVERY_SECONDS``; each run goes on from where the previous one ended
(a watermark in ``service_status``), so it never rereads what it already purged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.leads.privacy import drop_raw
from mailflow.models import (
    InboundMessage,
    InboundOutcome,
    OutboxMessage,
    OutboxState,
    ServiceStatus,
)
from mailflow.status_rows import status_row

log = logging.getLogger(__name__)

STATUS_ROW = "retention"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PURGED_STATES = (OutboxState.SENT, OutboxState.BOUNCED)
# What the parser read that may be personal data (the lead candidate of a quarantined message,
# the subject line); the rest (kind, bounce status, MIME defects) stays for the statistics.
PERSONAL_PARSED_KEYS = ("candidate", "subject")


def _instant(value) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value)) if value else None
    except (TypeError, ValueError):
        return None


def _state(settings: Settings) -> dict:
    with session_scope(settings) as session:
        row = session.get(ServiceStatus, STATUS_ROW)
        return dict(row.data or {}) if row else {}


def _save_state(settings: Settings, data: dict, at: datetime) -> None:
    with session_scope(settings) as session:
        row = status_row(session, STATUS_ROW, data=data, updated_at=at)
        row.data, row.updated_at = data, at


def purge_inbound(settings: Settings, *, since: datetime, until: datetime, batch: int = 200) -> int:
    done, last_id = 0, 0
    while True:
        with session_scope(settings) as session:
            rows = list(
                session.scalars(
                    select(InboundMessage)
                    .where(
                        InboundMessage.received_at >= since,
                        InboundMessage.received_at < until,
                        InboundMessage.outcome != InboundOutcome.PENDING,
                        InboundMessage.id > last_id,
                        or_(InboundMessage.raw.is_not(None), InboundMessage.raw_path.is_not(None)),
                    )
                    .order_by(InboundMessage.id)
                    .limit(batch)
                )
            )
            for row in rows:
                drop_raw(session, settings, row)
                if row.parsed:
                    row.parsed = {
                        k: v for k, v in row.parsed.items() if k not in PERSONAL_PARSED_KEYS
                    } | {"purged": True}
                last_id = row.id
            done += len(rows)
        if len(rows) < batch:
            return done


def purge_sent_mail(
    settings: Settings, *, since: datetime, until: datetime, batch: int = 500
) -> int:
    done, last_id = 0, 0
    while True:
        with session_scope(settings) as session:
            rows = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.created_at >= since,
                        OutboxMessage.created_at < until,
                        OutboxMessage.state.in_(PURGED_STATES),
                        OutboxMessage.id > last_id,
                        or_(
                            OutboxMessage.raw.is_not(None),
                            OutboxMessage.body_text.is_not(None),
                            OutboxMessage.body_html.is_not(None),
                        ),
                    )
                    .order_by(OutboxMessage.id)
                    .limit(batch)
                )
            )
            for row in rows:
                row.raw = row.body_text = row.body_html = None
                row.attachments = None
                last_id = row.id
            done += len(rows)
        if len(rows) < batch:
            return done


def purge(settings: Settings, at: datetime, *, force: bool = False) -> int:
    """Purge what is older than the retention periods; returns how many rows were purged."""
    state = _state(settings)
    last_run = _instant(state.get("last_run"))
    if (
        not force
        and last_run is not None
        and at - last_run < timedelta(seconds=settings.retention_sweep_every_seconds)
    ):
        return 0
    done = 0
    if settings.retention_inbound_days:
        cutoff = at - timedelta(days=settings.retention_inbound_days)
        since = _instant(state.get("inbound_until")) or EPOCH
        if cutoff > since:
            done += purge_inbound(settings, since=since, until=cutoff)
            state["inbound_until"] = cutoff.isoformat()
    if settings.retention_sent_mail_days:
        cutoff = at - timedelta(days=settings.retention_sent_mail_days)
        since = _instant(state.get("outbox_until")) or EPOCH
        if cutoff > since:
            done += purge_sent_mail(settings, since=since, until=cutoff)
            state["outbox_until"] = cutoff.isoformat()
    state["last_run"] = at.isoformat()
    state["last_purged"] = done
    _save_state(settings, state, at)
    if done:
        log.info("retention: purged %d raw messages and mail bodies", done)
    return done
