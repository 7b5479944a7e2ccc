"""Imports of leads and installers (CSV, XLSX) that run as background jobs: the uploaded file,
its progress, and the rows it rejected with the reasons (``mailflow/leads/imports.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.domain.import_job import ENDED
from mailflow.models.base import Base


class ImportJob(Base):
    """One uploaded file. ``rows_done`` counts the data rows processed, in file order; it is
    committed with each batch of rows (and their leads, installers and rejections), so a job
    that stopped resumes at the first row not yet committed."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # leads | installers
    filename: Mapped[str] = mapped_column(String(255))
    # The stored upload, relative to the data directory; None once the import has finished.
    stored_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    already_imported: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    columns: Mapped[list[str] | None] = mapped_column(JSON)  # the file's header, in its order
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started (a retry resumes)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=now)
    finished_at: Mapped[datetime | None]

    @property
    def finished(self) -> bool:
        return self.status in ENDED


class ImportRejection(Base):
    """A row the import did not take: its cells as the file had them, and why (a list of
    ``{"m": message id, "a": {arguments}}``, translated when shown)."""

    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The row's email address (lower case), to find it when that customer asks for erasure.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
