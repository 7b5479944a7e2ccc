"""The admins' digest: alerts (a lead in the pool, …) are stored as they happen and sent by
the scheduler's sweep, at most one email per admin per ``MAILFLOW_ADMIN_DIGEST_MINUTES``,
listing every alert since the last digest, with a link to the pool view.

Durable and idempotent: an alert is marked sent in the transaction that queues the digest
(outbox), so a crash sends it later and never twice; on PostgreSQL the alerts are claimed with
``FOR UPDATE SKIP LOCKED``, so two schedulers never send the same alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from mailflow.app.emails import admin_recipients
from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.models import AdminAlert
from mailflow.outbound.emails import admin_digest_email
from mailflow.outbound.outbox import queue_email

MAX_LISTED = 5000  # alerts in one digest (the rest follow in the next one)


def digest_due(last_sent: datetime | None, at: datetime, minutes: float) -> bool:
    return last_sent is None or at - last_sent >= timedelta(minutes=minutes)


def send_admin_digests(settings: Settings, at: datetime) -> int:
    """One digest to each admin if alerts wait and the last digest is old enough; returns how
    many alerts were sent."""
    with session_scope(settings) as session:
        last_sent = session.scalar(select(func.max(AdminAlert.sent_at)))
        if not digest_due(last_sent, at, settings.admin_digest_minutes):
            return 0
        query = (
            select(AdminAlert)
            .where(AdminAlert.sent_at.is_(None), AdminAlert.created_at <= at)
            .order_by(AdminAlert.created_at, AdminAlert.id)
            .limit(MAX_LISTED)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        alerts = list(session.scalars(query))
        if not alerts:
            return 0
        base = settings.base_url.rstrip("/")
        listed = [
            {
                "title": a.title,
                "message": a.message,
                "url": f"{base}/admin/leads/{a.lead_id}" if a.lead_id else f"{base}/admin",
            }
            for a in alerts
        ]
        pool_url = f"{base}/admin/leads?status=pool"
        for to in admin_recipients(session, settings):
            queue_email(
                session,
                admin_digest_email(to, alerts=listed, pool_url=pool_url),
                now=at,
                settings=settings,
            )
        for alert in alerts:
            alert.sent_at = at
        return len(alerts)
