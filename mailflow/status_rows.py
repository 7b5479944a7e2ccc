"""Rows of ``service_status`` (watermarks, health, once-a-day claims), created race-free: several
schedulers or pollers may meet a missing row at the same moment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.models import ServiceStatus


def status_row(session: Session, name: str, **defaults: Any) -> ServiceStatus:
    """The row ``name``, created with ``defaults`` if it is missing. When another process
    creates it at the same time, the insert that loses is rolled back to its savepoint and the
    winner's row is returned."""
    row = session.get(ServiceStatus, name)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ServiceStatus(name=name, **defaults)
            session.add(row)
        return row
    except IntegrityError:
        return session.get(ServiceStatus, name)
