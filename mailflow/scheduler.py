"""The scheduler sweep: every durable timer that is due is acted on, once.

Deadlines and retries live in the database, never only in the broker, so a lost broker loses
no timer. Each feature registers a sweep job (a function of session, settings and the instant);
``mailflow sweep --at ISO`` runs them all for that instant; ``mailflow scheduler`` and
``mailflow run`` run them in a loop. Jobs are idempotent and claim their rows (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), so two schedulers never act twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from mailflow.clock import now as clock_now
from mailflow.config import Settings, get_settings
from mailflow.db import is_postgres, log_failure, session_scope
from mailflow.models import InboundMessage, InboundOutcome

log = logging.getLogger(__name__)

SweepJob = Callable[[Settings, datetime], int]
_jobs: dict[str, SweepJob] = {}


def sweep_job(name: str) -> Callable[[SweepJob], SweepJob]:
    def register(job: SweepJob) -> SweepJob:
        _jobs[name] = job
        return job

    return register


@sweep_job("inbound")
def process_pending_inbound(
    settings: Settings, at: datetime, *, grace: timedelta | None = None, batch: int = 200
) -> int:
    """Stored messages whose processing job was lost (broker down, process killed) are
    processed here."""
    from mailflow.inbound.process import process_one

    if grace is None:
        grace = timedelta(seconds=settings.pending_grace_seconds)
    done = 0
    while True:
        with session_scope(settings) as session:
            query = (
                select(InboundMessage.id)
                .where(
                    InboundMessage.outcome == InboundOutcome.PENDING,
                    InboundMessage.received_at <= at - grace,
                    InboundMessage.channel != "webhook",
                )
                .order_by(InboundMessage.id)
                .limit(batch)
            )
            ids = list(session.scalars(query))
        if not ids:
            return done
        for inbound_id in ids:
            try:
                if process_one(inbound_id, now=at, settings=settings):
                    done += 1
            except Exception:
                log_failure(log, "sweep: inbound message %s failed", inbound_id)
        if len(ids) < batch:
            return done


def skip_locked(query, session):
    """Claim rows without waiting on another scheduler (PostgreSQL); SQLite serialises writers."""
    return query.with_for_update(skip_locked=True) if is_postgres(session) else query


def run_sweep(settings: Settings | None = None, at: datetime | None = None) -> dict[str, int]:
    import mailflow.actors  # noqa: F401  (features register their sweep jobs on import)
    from mailflow.metrics import SWEEP_ACTIONS, SWEEP_FAILURES, SWEEP_SECONDS

    settings = settings or get_settings()
    at = at or clock_now()
    results = {}
    with SWEEP_SECONDS.time():
        for name, job in list(_jobs.items()):
            try:
                results[name] = job(settings, at)
            except Exception:
                log_failure(log, "sweep job %s failed", name)
                SWEEP_FAILURES.labels(name).inc()
                results[name] = -1
            else:
                if isinstance(results[name], int) and results[name] > 0:
                    SWEEP_ACTIONS.labels(name).inc(results[name])
    return results


class SchedulerThread(threading.Thread):
    """Runs the sweep every ``settings.sweep_interval`` seconds until stopped."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        super().__init__(name="mailflow-scheduler", daemon=True)
        self.settings = settings
        self.stop_event = stop
        self.last_run: datetime | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                run_sweep(self.settings)
                self.last_run = clock_now()
            except Exception:
                log_failure(log, "sweep failed")
            self.stop_event.wait(self.settings.sweep_interval)
