"""The actors: each job's function, a few lines calling the plain code. Arguments are ids (or
an address); the work is elsewhere.

``ACTORS`` maps each job of ``mailflow.infra.enqueue.JOBS`` to its function and Dramatiq
options; ``mailflow.jobs.broker.setup()`` declares them on the broker it sets, so nothing binds
to a broker at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import is_database_unavailable, session_scope
from mailflow.infra.enqueue import send_now
from mailflow.installers import signin
from mailflow.intake.process import process_one
from mailflow.jobs.retry import retry_while_database_unavailable
from mailflow.leads.imports import run_import
from mailflow.outbound.outbox import deliver
from mailflow.routing.offers import route_lead
from mailflow.routing.waiting import offer_waiting_leads

log = logging.getLogger(__name__)

# Claiming a few due neighbours sends a burst over one relay connection; their own messages
# then find nothing to do.
SEND_BATCH = 20


@retry_while_database_unavailable
def process_inbound(inbound_id: int) -> None:
    process_one(inbound_id, now=now(), settings=get_settings())


@retry_while_database_unavailable
def process_inbound_batch(inbound_ids: list[int]) -> None:
    """Several stored messages in one job (the SMTP frontend sends one per group commit). One
    that fails goes back to the queue alone, as its own ``process_inbound`` job with its own
    retries, and does not hold up the others; a database outage retries the whole batch (a
    message already processed is skipped)."""
    settings = get_settings()
    for inbound_id in inbound_ids:
        try:
            process_one(inbound_id, now=now(), settings=settings)
        except Exception as exc:
            if is_database_unavailable(exc):
                raise
            log.exception("inbound message %s failed in its batch; retried on its own", inbound_id)
            send_now("process_inbound", inbound_id)


@retry_while_database_unavailable
def route_lead_job(lead_id: int) -> None:
    settings = get_settings()
    with session_scope(settings) as session:
        route_lead(session, lead_id, now=now(), settings=settings)


@retry_while_database_unavailable
def offer_waiting_job() -> None:
    """An installer answered (or a lead was released): waiting leads are offered, oldest first."""
    offer_waiting_leads(get_settings(), now())


@retry_while_database_unavailable
def send_email(outbox_id: int) -> None:
    result = deliver(outbox_id, settings=get_settings(), now=now(), batch=SEND_BATCH)
    if result.retry_in is not None:
        # The row's next_attempt_at is the durable record; this is for punctuality.
        send_now("send_email", outbox_id, delay_ms=int(result.retry_in.total_seconds() * 1000))


@retry_while_database_unavailable
def send_signin_link(address: str, next_url: str) -> None:
    signin.send_signin_link(address, next_url)


@retry_while_database_unavailable
def run_import_job(import_id: int) -> None:
    """An admin's import (leads or installers): resumes where an earlier run stopped."""
    run_import(import_id, get_settings())


class Actor(NamedTuple):
    fn: Callable[..., None]
    options: dict[str, Any]  # Dramatiq actor options (the queue comes from JOBS)


ACTORS: dict[str, Actor] = {
    "process_inbound": Actor(
        process_inbound, {"max_retries": 5, "min_backoff": 1000, "max_backoff": 60000}
    ),
    "process_inbound_batch": Actor(
        process_inbound_batch, {"max_retries": 5, "min_backoff": 1000, "max_backoff": 60000}
    ),
    "route_lead_job": Actor(route_lead_job, {"max_retries": 5, "min_backoff": 1000}),
    "offer_waiting_job": Actor(offer_waiting_job, {"max_retries": 3, "min_backoff": 1000}),
    "send_email": Actor(send_email, {"max_retries": 3, "time_limit": 120_000}),
    "send_signin_link": Actor(send_signin_link, {"max_retries": 5, "min_backoff": 1000}),
    # A large file may take longer than Dramatiq's default 10 minutes: a run cut off resumes.
    "run_import": Actor(
        run_import_job, {"max_retries": 5, "min_backoff": 5000, "time_limit": 3_600_000}
    ),
}
