"""``mailflow scheduler`` (sweeps due timers every few seconds) and ``mailflow sweep`` (once)."""

from __future__ import annotations

import threading
from datetime import datetime

import click

from mailflow.cli.common import (
    close_broker,
    refuse_unknown_timers,
    serve_metrics,
    settings,
    setup_jobs,
    stop_metrics,
    wait_for_signal,
)
from mailflow.clock import as_utc
from mailflow.jobs.scheduler import SchedulerThread
from mailflow.schedule import run_sweep


@click.command()
def scheduler() -> None:
    """Run the scheduler: sweeps due timers every few seconds."""
    current = settings()
    broker = setup_jobs(current)

    refuse_unknown_timers(current, broker)
    stop = threading.Event()
    thread = SchedulerThread(current, stop)
    thread.start()
    metrics = serve_metrics(current)
    try:
        wait_for_signal()
    finally:
        stop.set()
        thread.join(10)
        stop_metrics(metrics)
        close_broker(broker)


@click.command()
@click.option("--at", "at", default=None, help="ISO-8601 instant (default: now).")
def sweep(at: str | None) -> None:
    """Run every timer that is due at that instant, once."""
    current = settings()
    broker = setup_jobs(current)

    refuse_unknown_timers(current, broker)
    instant = None
    if at:
        try:
            instant = as_utc(datetime.fromisoformat(at.replace("Z", "+00:00")))
        except ValueError:
            raise click.BadParameter(f"not an ISO-8601 instant: {at}", param_hint="--at") from None
    try:
        results = run_sweep(current, instant)
    finally:
        close_broker(broker)
    for name, count in results.items():
        click.echo(f"{name}: {count}")
