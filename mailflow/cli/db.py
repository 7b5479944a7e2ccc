"""``mailflow db``: the database schema."""

from __future__ import annotations

import click

from mailflow.cli import common


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from mailflow.migrate import upgrade

    upgrade(common.settings(), revision)
    click.echo("database is up to date")
