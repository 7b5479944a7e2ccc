"""``mailflow worker``: a Dramatiq worker process."""

from __future__ import annotations

import click

from mailflow.cli import common


@click.command()
@click.option("--threads", default=None, type=int, help="Worker threads (default from settings).")
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
def worker(threads: int | None, queues: str | None) -> None:
    """Run a Dramatiq worker process (same as `dramatiq mailflow.worker`)."""
    from mailflow.jobs.worker import start_worker
    from mailflow.worker import broker

    settings = common.settings()
    w = start_worker(
        broker, settings, threads=threads, queues=set(queues.split(",")) if queues else None
    )
    metrics = common.serve_metrics(settings)
    click.echo(f"worker running with {w.worker_threads} threads")
    try:
        common.wait_for_signal()
    finally:
        w.stop()
        common.stop_metrics(metrics)
        common.close_embedded_redis(broker)
