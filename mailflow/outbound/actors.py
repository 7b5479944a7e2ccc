"""The sending actor: one outbox id per message; the work is in ``outbox.deliver``."""

from __future__ import annotations

import dramatiq

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.scheduler import sweep_job
from mailflow.tasks import retry_while_database_unavailable

SEND_BATCH = 20


@dramatiq.actor(queue_name="outbound", max_retries=3, time_limit=120_000)
@retry_while_database_unavailable
def send_email(outbox_id: int) -> None:
    from mailflow.outbound.outbox import deliver

    # Claiming a few due neighbours sends a burst over one relay connection; their own
    # messages then find nothing to do.
    result = deliver(outbox_id, settings=get_settings(), now=now(), batch=SEND_BATCH)
    if result.retry_in is not None:
        # The row's next_attempt_at is the durable record; this is for punctuality.
        send_email.send_with_options(
            args=(outbox_id,), delay=int(result.retry_in.total_seconds() * 1000)
        )


@sweep_job("outbox")
def _sweep_outbox(settings, at) -> int:
    from mailflow.outbound.outbox import sweep_outbox

    return sweep_outbox(settings, at)
