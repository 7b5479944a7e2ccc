"""Dramatiq worker threads on this process's broker (``mailflow worker``, ``mailflow run``)."""

from __future__ import annotations

import logging

import dramatiq

from mailflow.config import Settings
from mailflow.outbound.templates import warm_up

log = logging.getLogger(__name__)


def start_worker(
    broker: dramatiq.Broker,
    settings: Settings,
    *,
    threads: int | None = None,
    queues: set[str] | None = None,
) -> dramatiq.Worker:
    """Start worker threads (``settings.worker_threads`` unless ``threads``) on ``queues``
    (default: all); ``stop()`` the returned worker. The offer email's templates, the
    catalogs and the locale data are loaded first, so the first leads do not wait for them."""
    try:
        warm_up()
    except Exception:  # a warm-up only: the first lead would load them (and fail) anyway
        log.warning("warm-up failed; templates load on first use", exc_info=True)
    worker = dramatiq.Worker(
        broker,
        worker_threads=threads or settings.worker_threads,
        worker_timeout=settings.worker_idle_poll_ms,
        queues=queues,
    )
    worker.start()
    return worker
