"""``mailflow scheduler`` (sweeps due timers every few seconds) and ``mailflow sweep`` (once)."""

from __future__ import annotations

import threading
from datetime import datetime

import click

from mailflow.cli import common
from mailflow.clock import as_utc


@click.command()
def scheduler() -> None:
    """Run the scheduler: sweeps due timers every few seconds."""
    from mailflow.jobs.scheduler import SchedulerThread

    settings = common.settings()
    broker = common.setup_jobs(settings)

    common.refuse_unknown_timers(settings, broker)
    stop = threading.Event()
    thread = SchedulerThread(settings, stop)
    thread.start()
    metrics = common.serve_metrics(settings)
    try:
        common.wait_for_signal()
    finally:
        stop.set()
        thread.join(10)
        common.stop_metrics(metrics)
        common.close_embedded_redis(broker)


@click.command()
@click.option("--at", "at", default=None, help="ISO-8601 instant (default: now).")
def sweep(at: str | None) -> None:
    """Run every timer that is due at that instant, once."""
    from mailflow.schedule import run_sweep

    settings = common.settings()
    broker = common.setup_jobs(settings)

    common.refuse_unknown_timers(settings, broker)
    instant = None
    if at:
        try:
            instant = as_utc(datetime.fromisoformat(at.replace("Z", "+00:00")))
        except ValueError:
            raise click.BadParameter(f"not an ISO-8601 instant: {at}", param_hint="--at") from None
    try:
        results = run_sweep(settings, instant)
    finally:
        common.close_embedded_redis(broker)
    for name, count in results.items():
        click.echo(f"{name}: {count}")
