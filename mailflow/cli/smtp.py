"""``mailflow smtp``: the SMTP intake server."""

from __future__ import annotations

import click

from mailflow.cli import common


@click.command()
def smtp() -> None:
    """Run the SMTP intake server."""
    from mailflow.inbound.smtp import IntakeController

    settings = common.settings()
    broker = common.setup_jobs(settings)

    controller = IntakeController(settings)
    controller.start()
    metrics = common.serve_metrics(settings)
    click.echo(f"SMTP intake listening on {controller.hostname}:{controller.port}")
    try:
        common.wait_for_signal()
    finally:
        controller.stop()
        common.stop_metrics(metrics)
        common.close_embedded_redis(broker)
