"""Imports of leads and installers as background jobs (the admin pages' imports).

``create_import`` keeps the uploaded file under ``<data dir>/imports/`` and an ``ImportJob``
row, and enqueues the ``run_import`` job once the row is committed. ``run_import`` reads the
file in batches of ``BATCH`` rows; each batch — its leads or installers, its rejected rows and
the job's counters with ``rows_done`` — is one transaction. The job runs at least once and
possibly more: a run that stopped (a crash, a deploy, a time limit) is started again by the
broker's retry or by the sweep (``resume_stalled_imports``) and goes on at ``rows_done``; a
second run of the same job finds the counter moved under it and leaves the rest to the first.
The lead rows are idempotent besides (``import_lead_row``: a row imported before is skipped).

The CLI imports (``mailflow leads import``) run the same rows synchronously.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain import import_job as job_states
from mailflow.infra.enqueue import enqueue_on_commit, send_now
from mailflow.installers.io import import_installer_row
from mailflow.leads.io import import_lead_row
from mailflow.models import ImportJob, ImportRejection
from mailflow.private_files import open_private, private_dir
from mailflow.tabular import TableTooLarge, read_rows

log = logging.getLogger(__name__)

KINDS = ("leads", "installers")
SUFFIXES = (".csv", ".xlsx")
MAX_IMPORT_BYTES = 20 * 1024 * 1024
BATCH = 50  # rows per transaction (SQLite's one writer lock is the intake's too)
MAX_ATTEMPTS = 5  # runs of one job before it is marked failed
STALLED_AFTER = timedelta(minutes=5)  # a running job whose counter has not moved for so long
OUTCOMES = {
    "leads": ("created", "duplicate", "already_imported", "rejected"),
    "installers": ("created", "updated", "rejected"),
}


class ImportFileError(ValueError):
    """The upload is not a table this import can read (the message says why, for admins)."""


def store_file(settings: Settings, data: bytes, suffix: str) -> str:
    """Keep an uploaded file (fsynced) until its import has run; its path relative to the data
    directory."""
    directory = settings.data_path / "imports"
    private_dir(directory)
    relative = Path("imports") / f"{secrets.token_urlsafe(18)}{suffix}"
    with open_private(settings.data_path / relative, exclusive=True) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return str(relative)


def read_header(path: Path) -> list[str]:
    """The columns of the first data row; raises ImportFileError when the file cannot be read."""
    try:
        first = next(iter(read_rows(path)), None)
    except TableTooLarge as exc:
        raise ImportFileError(str(exc)) from None
    except Exception as exc:  # a file that is not what its name says
        raise ImportFileError(f"{type(exc).__name__}: {exc}"[:300]) from None
    if first is None:
        raise ImportFileError("the file has no data rows")
    return list(first[1])


def create_import(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    filename: str,
    data: bytes,
    created_by: str,
) -> ImportJob:
    """Store the upload and queue its import (the job is sent after the commit)."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportFileError("the file must be a .csv or .xlsx file")
    stored = store_file(settings, data, suffix)
    try:
        columns = read_header(settings.data_path / stored)
    except ImportFileError:
        (settings.data_path / stored).unlink(missing_ok=True)
        raise
    job = ImportJob(
        kind=kind,
        filename=filename[:255],
        stored_name=stored,
        status=job_states.QUEUED,
        columns=columns,
        created_by=created_by,
        created_at=now(),
        updated_at=now(),
    )
    session.add(job)
    session.flush()
    enqueue_on_commit(session, "run_import", job.id)
    return job


def _count_rows(path: Path) -> int:
    return sum(1 for _ in read_rows(path))


def run_import(
    import_id: int, settings: Settings, progress: Callable[[int, int], None] | None = None
) -> None:
    """Run (or resume) an import; ``progress(rows_done, total)`` after each batch."""
    with session_scope(settings) as session:
        job = session.get(ImportJob, import_id)
        if job is None or job.finished:
            return
        job.attempts += 1
        if job.attempts > MAX_ATTEMPTS:
            _finish(
                session, job, job_states.FAILED, job.error or "the import failed too many times"
            )
            return
        if not job.stored_name or not (settings.data_path / job.stored_name).is_file():
            _finish(session, job, job_states.FAILED, "the uploaded file is gone")
            return
        path = settings.data_path / job.stored_name
        kind, position = job.kind, job.rows_done
    try:
        total = _count_rows(path)
        with session_scope(settings) as session:
            job = session.get(ImportJob, import_id)
            job_states.move(job, job_states.RUNNING)
            job.total_rows, job.updated_at = total, now()
            job.started_at = job.started_at or now()
        rows = read_rows(path)
        # Rows already committed by an earlier run are skipped, not imported again.
        for _ in islice(rows, position):
            pass
        while True:
            batch = list(islice(rows, BATCH))
            if not batch:
                break
            moved = _run_batch(settings, import_id, kind, position, batch)
            if moved is None:
                log.info("import %s: another run goes on from here; this one stops", import_id)
                return
            position = moved
            if progress is not None:
                progress(position, total)
    except (TableTooLarge, UnicodeDecodeError, ValueError) as exc:
        with session_scope(settings) as session:
            _finish(session, session.get(ImportJob, import_id), job_states.FAILED, str(exc)[:500])
        return
    except Exception as exc:
        with session_scope(settings) as session:
            session.get(ImportJob, import_id).error = f"{type(exc).__name__}: {exc}"[:500]
        raise  # the broker retries; the retry resumes at rows_done
    with session_scope(settings) as session:
        job = session.get(ImportJob, import_id)
        if not job.finished:
            _finish(session, job, job_states.DONE, None)
    path.unlink(missing_ok=True)


def _run_batch(
    settings: Settings, import_id: int, kind: str, position: int, batch: list
) -> int | None:
    """One transaction: claim the job at ``position`` (None: another run moved it), import the
    rows, count them and move ``rows_done`` past them."""
    with session_scope(settings) as session:
        claimed = session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id, ImportJob.rows_done == position)
            .where(ImportJob.status.in_(job_states.OPEN))
            .values(updated_at=now())
        ).rowcount
        if not claimed:
            return None
        counts = dict.fromkeys(OUTCOMES[kind], 0)
        for number, raw in batch:
            if kind == "leads":
                result = import_lead_row(session, settings, number, raw)
            else:
                result = import_installer_row(session, number, raw)
            counts[result.outcome] += 1
            if result.outcome == "rejected":
                session.add(
                    ImportRejection(
                        import_id=import_id,
                        row=number,
                        data=raw,
                        reasons=result.problems,
                        email=(raw.get("email") or raw.get("customer.email") or "").lower()[:320]
                        or None,
                    )
                )
        job = session.get(ImportJob, import_id)
        for outcome, count in counts.items():
            setattr(job, outcome, getattr(job, outcome) + count)
        job.rows_done = position + len(batch)
        return job.rows_done


def _finish(session: Session, job: ImportJob, status: str, error: str | None) -> None:
    job_states.move(job, status)
    job.error, job.finished_at, job.updated_at = error, now(), now()
    if job.total_rows is None and status == job_states.DONE:
        job.total_rows = job.rows_done


def rejections(session: Session, import_id: int) -> Iterator[ImportRejection]:
    yield from session.scalars(
        select(ImportRejection)
        .where(ImportRejection.import_id == import_id)
        .order_by(ImportRejection.row)
    )


def recent_imports(session: Session, limit: int = 20) -> list[ImportJob]:
    return list(session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))


def resume_stalled_imports(settings: Settings, at: datetime) -> int:
    """Sweep: imports queued or running whose counter has not moved for ``STALLED_AFTER`` (the
    message was lost, the worker died) are sent again; they resume at ``rows_done``."""
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(ImportJob.id).where(
                    ImportJob.status.in_(job_states.OPEN),
                    ImportJob.updated_at < at - STALLED_AFTER,
                )
            )
        )
        for import_id in ids:
            session.get(ImportJob, import_id).updated_at = at  # once per STALLED_AFTER
    for import_id in ids:
        try:
            send_now("run_import", import_id)
        except Exception as exc:
            log.warning("could not resume import %s: %s", import_id, exc)
    return len(ids)
