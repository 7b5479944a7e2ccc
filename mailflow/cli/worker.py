"""``mailflow worker``: a Dramatiq worker process."""

from __future__ import annotations

import click

from mailflow.cli.common import (
    close_broker,
    serve_metrics,
    settings,
    setup_jobs,
    stop_metrics,
    wait_for_signal,
)
from mailflow.jobs.worker import start_worker


@click.command()
@click.option("--threads", default=None, type=int, help="Worker threads (default from settings).")
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
def worker(threads: int | None, queues: str | None) -> None:
    """Run a Dramatiq worker process (same as `dramatiq mailflow.worker`)."""
    current = settings()
    # The same broker as ``mailflow.worker``'s (``dramatiq mailflow.worker``).
    broker = setup_jobs(current)
    w = start_worker(
        broker, current, threads=threads, queues=set(queues.split(",")) if queues else None
    )
    metrics = serve_metrics(current)
    click.echo(f"worker running with {w.worker_threads} threads")
    try:
        wait_for_signal()
    finally:
        w.stop()
        stop_metrics(metrics)
        close_broker(broker)
