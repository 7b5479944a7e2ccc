"""The models and the migrations describe the same schema: after ``upgrade`` to head, Alembic's
autogenerate finds nothing to add, drop or alter (the split of mailflow/models into one module
per feature keeps every table in the metadata Alembic compares)."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailflow.db import get_engine
from mailflow.models import Base


def test_migrated_database_matches_the_models(settings):
    with get_engine(settings).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_importing_the_package_registers_every_model_module():
    # In a fresh interpreter, as Alembic's env.py does: a module left out of models/__init__
    # would add tables only once something else imports it.
    script = """
import pkgutil, importlib, mailflow.models as models
seen = set(models.Base.metadata.tables)
for info in pkgutil.iter_modules(models.__path__):
    importlib.import_module(f"mailflow.models.{info.name}")
print(sorted(set(models.Base.metadata.tables) - seen))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
