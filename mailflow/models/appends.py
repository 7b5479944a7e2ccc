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
    """Rows given to ``add`` in this session's transaction are written at ``write``, until
    it commits or rolls back."""
    if not session.in_transaction():
        session.begin()  # so that a rollback, even before any SQL, ends the deferral
    session.info.setdefault(_KEY, [])


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, _previous) -> None:
    # Any rollback of the whole transaction (with SQL sent or not); a savepoint's keeps them.
    if not session.in_transaction():
        session.info.pop(_KEY, None)


def add(session: Session, model: type, values: dict[str, Any], **related: Any) -> None:
    """A row of ``model``: deferred as plain ``values`` (the same keys for every row of a
    table) when the transaction defers and every ``related`` object has its id already, else
    added to the session as an ORM object with ``related`` (a pending lead, say, whose
    ``INSERT`` the flush then orders first)."""
    deferred = session.info.get(_KEY)
    if deferred is not None and all(obj.id is not None for obj in related.values()):
        deferred.append((model.__table__, values))
    else:
        session.add(model(**values, **related))


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
