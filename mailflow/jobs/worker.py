"""Dramatiq worker threads on this process's broker (``mailflow worker``, ``mailflow run``)."""

from __future__ import annotations

import dramatiq

from mailflow.config import Settings


def start_worker(
    broker: dramatiq.Broker,
    settings: Settings,
    *,
    threads: int | None = None,
    queues: set[str] | None = None,
) -> dramatiq.Worker:
    """Start worker threads (``settings.worker_threads`` unless ``threads``) on ``queues``
    (default: all); ``stop()`` the returned worker."""
    worker = dramatiq.Worker(
        broker,
        worker_threads=threads or settings.worker_threads,
        worker_timeout=settings.worker_idle_poll_ms,
        queues=queues,
    )
    worker.start()
    return worker
