"""The migration files read as text: which revisions the code's migrations end at, without
loading Alembic (``mailflow status`` and ``mailflow run`` ask; a unit test compares it with
Alembic's own answer)."""

from __future__ import annotations

import re
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"

_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(.+)$", re.M)


def code_heads(directory: Path = VERSIONS) -> set[str]:
    """The head revision(s) of the migration files: those no other revision builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in directory.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision = _REVISION.search(text)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN.search(text)
        if down is not None:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return revisions - parents
