"""``service_status`` rows are created race-free: schedulers that meet a missing row at the same
moment all get it, and nobody gets an IntegrityError (the soak caught one on PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import ServiceStatus
from mailflow.status_rows import status_row


def test_many_processes_meeting_a_missing_row_at_once(settings):
    start = threading.Barrier(8)

    def claim(worker: int) -> str:
        start.wait()
        with session_scope(settings) as session:
            row = status_row(session, "retention", data={"by": worker}, updated_at=now())
            row.data = {**row.data, "seen": True}
            return row.name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(claim, range(8)))
    assert names == ["retention"] * 8
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(ServiceStatus)) == 1
        assert session.get(ServiceStatus, "retention").data["seen"] is True
