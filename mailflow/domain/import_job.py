"""An import job's states and the moves between them (queued → running → done | failed).

A job is queued when the file is stored, running while a worker reads it (a retry or a
resumed run is running again), and ends done or failed; an ended job never moves again.
"""

from __future__ import annotations

from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
OPEN = (QUEUED, RUNNING)
ENDED = (DONE, FAILED)

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, DONE, FAILED}),  # failed: the file was gone before it started
    RUNNING: frozenset({RUNNING, DONE, FAILED}),
    DONE: frozenset(),
    FAILED: frozenset(),
}


class Refused(ValueError):
    """A move the table does not allow (an ended job started again)."""


def move(job: Any, wanted: str) -> None:
    """Set ``job.status`` to ``wanted`` if the table allows it; else raise ``Refused``."""
    current = job.status or QUEUED
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise Refused(f"an import job cannot go from {current} to {wanted}")
    job.status = wanted
