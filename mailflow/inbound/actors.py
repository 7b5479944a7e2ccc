"""Dramatiq actors of the intake. Arguments are ids; the work is in plain functions."""

from __future__ import annotations

import dramatiq

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope


@dramatiq.actor(queue_name="inbound", max_retries=5, min_backoff=1000, max_backoff=60000)
def process_inbound(inbound_id: int) -> None:
    from mailflow.inbound.process import process_inbound_message

    settings = get_settings()
    with session_scope(settings) as session:
        process_inbound_message(session, inbound_id, now=now(), settings=settings)
