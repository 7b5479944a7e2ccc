"""Schema migrations with Alembic (`mailflow db upgrade`; `mailflow run` upgrades by itself,
in a process of its own: see ``mailflow.schema``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from mailflow.config import Settings
from mailflow.db import get_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    engine = get_engine(settings)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def make_revision(message: str, settings: Settings | None = None) -> None:
    """Developer helper: autogenerate a revision against an up-to-date database."""
    engine = get_engine(settings)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
