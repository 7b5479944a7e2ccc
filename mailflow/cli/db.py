"""``mailflow db``: the database schema."""

from __future__ import annotations

import click

from mailflow.cli.common import settings
from mailflow.migrate import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    upgrade(settings(), revision)
    click.echo("database is up to date")
