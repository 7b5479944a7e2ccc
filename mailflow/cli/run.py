"""``mailflow run``: the whole service in one process."""

from __future__ import annotations

import click

from mailflow.cli import common


@click.command()
def run() -> None:
    """Run everything in one process: database, embedded Redis, SMTP intake, web, workers,
    scheduler (and the IMAP poller when MAILFLOW_IMAP_URL is set)."""
    from mailflow.runtime import EmbeddedService
    from mailflow.schedule import UnknownTimerKinds
    from mailflow.schema import MigrationFailed

    try:
        EmbeddedService(common.settings()).run()
    except UnknownTimerKinds as exc:
        raise click.ClickException(str(exc)) from None
    except MigrationFailed as exc:
        raise click.ClickException(f"the database could not be upgraded:\n{exc}") from None
