"""Dramatiq actors of the intake. Arguments are ids; the work is in plain functions."""

from __future__ import annotations

import dramatiq

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.tasks import retry_while_database_unavailable


@dramatiq.actor(queue_name="inbound", max_retries=5, min_backoff=1000, max_backoff=60000)
@retry_while_database_unavailable
def process_inbound(inbound_id: int) -> None:
    from mailflow.inbound.process import process_one

    process_one(inbound_id, now=now(), settings=get_settings())
