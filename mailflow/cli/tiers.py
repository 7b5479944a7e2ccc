"""``mailflow tiers``: installer scores and tiers."""

from __future__ import annotations

import click

from mailflow.cli.common import close_broker, settings, setup_jobs
from mailflow.clock import now
from mailflow.ratings.service import recompute_all


@click.group()
def tiers() -> None:
    """Installer scores and tiers."""


@tiers.command("recompute")
def tiers_recompute() -> None:
    """Recompute every installer's score and tier now (the scheduler does it nightly)."""
    current = settings()
    broker = setup_jobs(current)

    try:
        changes = recompute_all(current, now())
    finally:
        close_broker(broker)
    for change in changes:
        click.echo(
            f"installer {change.installer_id}: {change.old_tier} -> {change.new_tier} "
            f"(score {change.score})"
        )
    click.echo(f"{len(changes)} tier changes")
