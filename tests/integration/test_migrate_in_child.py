"""``mailflow run`` migrates in a process of its own, and only when the database is behind the
code (#21: Alembic and the migration scripts, about 11 MB, stay out of the service)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from mailflow.db import get_engine
from mailflow.migration_files import code_heads
from mailflow.schema import schema_behind
from support.database import use_postgres

SCRIPT = """
import sys
from mailflow.schema import schema_behind, upgrade_in_child
behind = schema_behind()
if behind:
    upgrade_in_child()
print(behind, schema_behind(), "alembic" in sys.modules)
"""


def run_script(tmp_path, database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(MAILFLOW_DATA_DIR=str(tmp_path / "var"), MAILFLOW_DATABASE_URL=database_url)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(use_postgres(), reason="a fresh SQLite file is the new database here")
def test_a_new_database_is_migrated_by_a_child_and_the_caller_never_loads_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run_script(tmp_path, url) == "True False False"
    # At the head now: nothing to do, no child.
    assert run_script(tmp_path, url) == "False False False"


def set_version(settings, revision: str) -> None:
    with get_engine(settings).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_database_behind_the_code_is_seen_as_behind(settings):
    (head,) = code_heads()
    assert not schema_behind(settings)
    set_version(settings, "an-older-revision")
    assert schema_behind(settings)
    set_version(settings, head)
    assert not schema_behind(settings)
