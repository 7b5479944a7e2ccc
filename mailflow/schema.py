"""Whether the database's schema is the code's, and migrating it from a long-running process.

Alembic, Mako and the migration scripts take about 11 MB that a service never needs again once
its schema is current, so ``mailflow run`` does not import ``mailflow.migrate``: it asks
:func:`schema_behind` (the database's revision against the head read from the migration files,
without Alembic) and, only when behind, runs ``mailflow db upgrade`` in a child process."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mailflow.config import Settings
from mailflow.db import get_engine
from mailflow.migration_files import code_heads


def schema_behind(settings: Settings | None = None) -> bool:
    """Whether the database is not at the code's migration head (never migrated included)."""
    try:
        with get_engine(settings).connect() as connection:
            current = set(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    except DBAPIError:
        return True  # no alembic_version table yet
    return current != code_heads()


class MigrationFailed(RuntimeError):
    """``mailflow db upgrade`` failed (its output says why)."""


def upgrade_in_child() -> None:
    """``mailflow db upgrade`` in a process of its own, with this process's environment and
    working directory (so the same settings): the service that called it never loads Alembic."""
    done = subprocess.run(
        [sys.executable, "-m", "mailflow.cli", "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MigrationFailed(done.stderr.strip() or done.stdout.strip() or "migration failed")
