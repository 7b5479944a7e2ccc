"""Schema migrations with Alembic (`mailflow db upgrade`; `mailflow run` upgrades by itself).

Alembic, Mako and the migration scripts take about 11 MB that a long-running process never
needs again once its schema is current: they are loaded by the functions that migrate, and
``mailflow run`` migrates in a process of its own (:func:`upgrade_in_child`), only when the
database is behind the code (:func:`schema_behind`, read without Alembic)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mailflow.config import Settings
from mailflow.db import get_engine
from mailflow.migration_files import code_heads

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config():
    from alembic.config import Config  # noqa: PLC0415 - see the module's docstring

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    from alembic import command  # noqa: PLC0415 - see the module's docstring

    engine = get_engine(settings)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def make_revision(message: str, settings: Settings | None = None) -> None:
    """Developer helper: autogenerate a revision against an up-to-date database."""
    from alembic import command  # noqa: PLC0415 - see the module's docstring

    engine = get_engine(settings)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)


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
