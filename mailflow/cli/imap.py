"""``mailflow imap``: the IMAP poller."""

from __future__ import annotations

import signal
import threading

import click

from mailflow.cli.common import serve_metrics, settings, setup_jobs, stop_metrics
from mailflow.inbound.imap import ImapPoller
from mailflow.inbound.imap_status import report_health_forever


@click.command()
def imap() -> None:
    """Run the IMAP poller for MAILFLOW_IMAP_URL."""
    current = settings()
    if not current.imap_url:
        raise click.UsageError("MAILFLOW_IMAP_URL is not set")
    setup_jobs(current)

    try:
        poller = ImapPoller(current)
    except ValueError as exc:
        raise click.UsageError(f"MAILFLOW_IMAP_URL: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    report_health_forever(poller, current, stop)
    metrics = serve_metrics(current)
    try:
        poller.run(stop)
    finally:
        stop_metrics(metrics)
