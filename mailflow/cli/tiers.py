"""``mailflow tiers``: installer scores and tiers."""

from __future__ import annotations

import click

from mailflow.cli import common
from mailflow.clock import now


@click.group()
def tiers() -> None:
    """Installer scores and tiers."""


@tiers.command("recompute")
def tiers_recompute() -> None:
    """Recompute every installer's score and tier now (the scheduler does it nightly)."""
    from mailflow.ratings.service import recompute_all

    settings = common.settings()
    broker = common.setup_jobs(settings)

    try:
        changes = recompute_all(settings, now())
    finally:
        common.close_embedded_redis(broker)
    for change in changes:
        click.echo(
            f"installer {change.installer_id}: {change.old_tier} -> {change.new_tier} "
            f"(score {change.score})"
        )
    click.echo(f"{len(changes)} tier changes")
