"""The ``mailflow`` command loads each command's module only when needed (#21): ``--help``, a
command's ``--help`` and ``status`` import neither SQLAlchemy nor FastAPI nor Dramatiq; what ``status`` reads on its own
(settings, migration head, queue names) agrees with the real sources; the group's help shows
each command's own summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from alembic.script import ScriptDirectory

from mailflow.cli import COMMANDS, main
from mailflow.cli.status import QUEUES, places, redacted
from mailflow.config import Settings
from mailflow.infra.enqueue import JOBS
from mailflow.migrate import alembic_config
from mailflow.migration_files import code_heads

HEAVY = ("sqlalchemy", "fastapi", "starlette", "dramatiq", "alembic", "jinja2", "pydantic")


def modules_after(args: list[str], cwd, env: dict[str, str] | None = None) -> dict:
    """Run ``mailflow ARGS`` in a fresh interpreter; its exit code and which HEAVY it imported."""
    code = (
        "import json, sys\n"
        "from mailflow.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"print(json.dumps({{'code': code, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_no_framework(tmp_path):
    result = modules_after(["--help"], tmp_path)
    assert result == {"code": 0, "heavy": []}


def test_status_imports_no_framework(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MAILFLOW_DATA_DIR": str(tmp_path / "var")}
    result = modules_after(["status"], tmp_path, env)
    assert result == {"code": 1, "heavy": []}  # no database there


@pytest.mark.parametrize("args", [["run", "--help"], ["admin", "create", "--help"]])
def test_a_commands_help_imports_no_framework(args, tmp_path):
    assert modules_after(args, tmp_path) == {"code": 0, "heavy": []}


def test_a_command_imports_its_machinery_when_it_runs(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MAILFLOW_DATA_DIR": str(tmp_path / "var")}
    result = modules_after(["db", "upgrade"], tmp_path, env)
    assert result["code"] in (0, None) and {"sqlalchemy", "alembic"} <= set(result["heavy"])


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_summaries_are_the_commands_own(name):
    loaded = main.get_command(click.Context(main), name)
    assert loaded.name == name
    shown = click.Command(name, help=COMMANDS[name].summary)
    for limit in (45, 60, 200):
        assert shown.get_short_help_str(limit) == loaded.get_short_help_str(limit)


def test_queues_are_the_jobs_queues():
    assert QUEUES == tuple(sorted(set(JOBS.values())))


def test_code_heads_are_alembics():
    assert code_heads() == set(ScriptDirectory.from_config(alembic_config()).get_heads())


@pytest.mark.parametrize(
    "environ, dotenv",
    [
        ({}, ""),
        ({"MAILFLOW_DATA_DIR": "elsewhere"}, ""),
        ({"mailflow_database_url": "postgres://u:p@db.example/mf"}, ""),
        ({"MAILFLOW_DATABASE_URL": "postgresql+psycopg://db/mf"}, "MAILFLOW_REDIS_URL=redis://r\n"),
        (
            {"MAILFLOW_REDIS_URL": "redis://from-env"},
            "MAILFLOW_REDIS_URL=redis://from-file\nMAILFLOW_DATA_DIR='quoted dir'\n",
        ),
        ({"MAILFLOW_DATABASE_URL": ""}, "MAILFLOW_DATABASE_URL=postgresql://x/y\n"),
    ],
)
def test_places_are_read_as_settings_reads_them(environ, dotenv, tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.upper().startswith("MAILFLOW_")]:
        if not key.startswith("MAILFLOW_TEST_"):
            monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(dotenv)
    settings = Settings()
    where = places()
    assert where.database_url == settings.sqlalchemy_url
    assert where.redis_url == settings.redis_url
    assert where.data_path == settings.data_path


def test_redacted():
    assert redacted("postgresql+psycopg://mf:secret@db:5432/mf") == (
        "postgresql+psycopg://mf:***@db:5432/mf"
    )
    assert redacted("redis://:secret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redacted("sqlite:////var/lib/mailflow/mailflow.db") == (
        "sqlite:////var/lib/mailflow/mailflow.db"
    )
