"""Libraries most processes never use are loaded at their first use (mailflow.lazy, #21: the
idle memory of ``mailflow run``). Checked in a fresh interpreter, as a process starts."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("openpyxl", "pygal", "icalendar", "imapclient", "alembic", "psycopg")


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_services_modules_load_none_of_the_heavy_libraries():
    loaded = run(
        "import sys\n"
        "import mailflow.runtime, mailflow.web.app, mailflow.jobs.actors, mailflow.inbound.smtp\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert loaded == "[]"


def test_a_lazy_module_is_imported_at_its_first_use_and_works():
    out = run(
        "import sys\n"
        "from mailflow import tabular\n"
        "before = 'openpyxl' in sys.modules\n"
        "import pathlib, tempfile\n"
        "path = pathlib.Path(tempfile.mkdtemp()) / 'a.xlsx'\n"
        "tabular.write_rows(path, ['name'], [['Claire']])\n"
        "rows = list(tabular.read_rows(path))\n"
        "print(before, 'openpyxl' in sys.modules, rows)"
    )
    assert out == "False True [(2, {'name': 'Claire'})]"
