"""``mailflow imap``: the IMAP poller."""

from __future__ import annotations

import signal
import threading

import click

from mailflow.cli import common


@click.command()
def imap() -> None:
    """Run the IMAP poller for MAILFLOW_IMAP_URL."""
    from mailflow.inbound.imap import ImapPoller

    settings = common.settings()
    if not settings.imap_url:
        raise click.UsageError("MAILFLOW_IMAP_URL is not set")
    common.setup_jobs(settings)

    try:
        poller = ImapPoller(settings)
    except ValueError as exc:
        raise click.UsageError(f"MAILFLOW_IMAP_URL: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from mailflow.inbound.imap_status import report_health_forever

    report_health_forever(poller, settings, stop)
    metrics = common.serve_metrics(settings)
    try:
        poller.run(stop)
    finally:
        common.stop_metrics(metrics)
