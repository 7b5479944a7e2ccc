"""Rows written once and never read back in their transaction (timeline events, routing
decisions, link nonces), written by Core after the ORM's last flush (#21).

An ORM object added and flushed costs about three times the CPU of the same row in a Core
``INSERT`` (``docs/performance.md``, stop 31), and rows of one table added one by one are
written one statement each. A transaction that turns deferral on (``defer``) gets its rows of
these kinds as plain values; ``write``, run when the session commits (``before_commit``),
flushes the ORM's pending objects, so that every row they name exists, then writes the
deferred rows one ``INSERT`` per table (on PostgreSQL all in one statement). Only a
transaction that reads none of them back may turn it on: the inbound job does. A rollback
drops them with the rest.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, event, insert, text
from sqlalchemy.dialects import postgresql
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
    order their tables first came (PostgreSQL: one statement)."""
    rows = session.info.pop(_KEY, None)
    if not rows:
        return
    session.flush()
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        tables = [(table, _with_defaults(table, values)) for table, values in by_table.items()]
        shape = tuple((table, tuple(values[0]), len(values)) for table, values in tables)
        params = {
            f"p{t}_{k}_{n}": value
            for t, (_, values) in enumerate(tables)
            for n, row in enumerate(values)
            for k, value in enumerate(row.values())
        }
        connection.execute(_one_statement(shape), params)
        return
    for table, values in by_table.items():
        connection.execute(insert(table), values)


def _with_defaults(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the Python-side defaults of the columns they leave out (what Core's
    ``INSERT`` would add)."""
    absent = _absent_defaults(table, tuple(rows[0]))
    if not absent:
        return rows
    return [
        {**row, **{key: d.arg if d.is_scalar else d.arg(None) for key, d in absent}} for row in rows
    ]


@lru_cache(maxsize=64)
def _absent_defaults(table: Table, keys: tuple[str, ...]) -> tuple:
    return tuple(
        (c.key, c.default)
        for c in table.columns
        if c.key not in keys and c.default is not None and not c.primary_key
    )


_PREPARER = postgresql.dialect().identifier_preparer


@lru_cache(maxsize=256)
def _one_statement(shape: tuple[tuple[Table, tuple[str, ...], int], ...]) -> TextClause:
    """PostgreSQL: the rows of ``shape`` (per table: its columns, its number of rows) in one
    statement, one round trip: every table's ``INSERT`` but the last as a data-modifying CTE
    of the last (foreign keys are checked at the end of the statement). A textual statement
    with typed parameters ``p<table>_<column>_<row>``, built once per shape: SQLAlchemy does
    not cache a multi-row ``insert().values()``, and compiling it each time costs more CPU
    than the round trips it saves."""
    parts, binds = [], []
    for t, (table, keys, count) in enumerate(shape):
        rows = []
        for n in range(count):
            names = [f"p{t}_{k}_{n}" for k in range(len(keys))]
            binds += [
                bindparam(name, type_=table.c[key].type)
                for name, key in zip(names, keys, strict=True)
            ]
            rows.append("(" + ", ".join(f":{name}" for name in names) + ")")
        columns = ", ".join(_PREPARER.quote(table.c[key].name) for key in keys)
        parts.append(
            f"INSERT INTO {_PREPARER.format_table(table)} ({columns}) VALUES {', '.join(rows)}"
        )
    *first, last = parts
    ctes = ", ".join(f"rows_{n} AS ({part})" for n, part in enumerate(first))
    return text(f"WITH {ctes} {last}" if ctes else last).bindparams(*binds)
