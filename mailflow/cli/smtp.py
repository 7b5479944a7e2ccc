"""``mailflow smtp``: the SMTP intake server."""

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
from mailflow.inbound.smtp import IntakeController


@click.command()
def smtp() -> None:
    """Run the SMTP intake server."""
    current = settings()
    broker = setup_jobs(current)

    controller = IntakeController(current)
    controller.start()
    metrics = serve_metrics(current)
    click.echo(f"SMTP intake listening on {controller.hostname}:{controller.port}")
    try:
        wait_for_signal()
    finally:
        controller.stop()
        stop_metrics(metrics)
        close_broker(broker)
