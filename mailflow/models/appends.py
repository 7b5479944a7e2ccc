"""Rows written once and never read back in their transaction (timeline events, routing
decisions, link nonces), written by Core after the ORM's last flush (#21).

An ORM object added and flushed costs about three times the CPU of the same row in a Core
``INSERT`` (``docs/performance.md``, stop 31), and rows of one table added one by one are
written one statement each. A transaction that turns deferral on (``defer``) gets its rows of
these kinds as plain values; ``write``, run when the session commits (``before_commit``),
flushes the ORM's pending objects, so that every row they name exists, then writes the
deferred rows one ``INSERT`` per table. Only a transaction that reads none of them back may
turn it on: the inbound job does. A rollback drops them with the rest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

_KEY = "mailflow.deferred_rows"


def defer(session: Session) -> None:
    """Rows given to ``add`` in this session's transaction are written at ``write``."""
    session.info.setdefault(_KEY, [])


def _drop(session: Session, *_args) -> None:
    session.info.pop(_KEY, None)


event.listen(Session, "after_rollback", _drop)


def deferring(session: Session) -> bool:
    return _KEY in session.info


def add(session: Session, model: type, values: dict[str, Any]) -> None:
    """A row of ``model`` (every column the table's rows are written with, the same keys for
    every row of a table), written at ``write``; ``defer`` must have been called."""
    session.info[_KEY].append((model.__table__, values))


@event.listens_for(Session, "before_commit")
def write(session: Session) -> None:
    """Flush the session, then write the deferred rows, one ``INSERT`` per table, in the
    order their tables first came."""
    rows = session.info.pop(_KEY, None)
    if not rows:
        return
    session.flush()
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    connection = session.connection()
    for table, values in by_table.items():
        connection.execute(insert(table), values)
